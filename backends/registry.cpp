// Which backend serves which device: explicit registration, in this one place. The CPU
// backend always; the CUDA backend when compiled in (RECUR_HAVE_CUDA) and a device is
// visible. Backends are created on first use, never at load time.
#include "backends/backend.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cuda_info.h"
#include "recur/config.h"

#if RECUR_HAVE_CUDA
#include "backends/cuda/cuda_backend.h"
#endif

namespace recur {

Backend& backend_for(Device device) {
  if (device.is_cpu()) return cpu_backend();
#if RECUR_HAVE_CUDA
  // Devices are counted once per process (every op asks for its backend).
  struct Visible {
    int count;
    std::string why;
  };
  static const Visible visible = [] {
    Visible v;
    v.count = cuda_device_count(&v.why);
    return v;
  }();
  RECUR_CHECK(visible.count > 0, "{} requested, but no CUDA device visible: {}", device, visible.why);
  RECUR_CHECK(device.index >= 0 && device.index < visible.count, "{} requested, but only {} CUDA device(s) are visible",
              device, visible.count);
  return cuda_backend(device.index);
#else
  RECUR_FAIL("{} requested, but recur was built without the CUDA backend", device);
#endif
}

Allocator& allocator_for(Device device) { return backend_for(device).allocator(); }

}  // namespace recur
