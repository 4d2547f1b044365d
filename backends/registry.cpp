// Which backend serves which device: explicit registration, in this one place. The CPU
// backend always; the CUDA backend when compiled in (RECUR_HAVE_CUDA) and a device is
// visible. Backends are created on first use, never at load time.
#include "backends/backend.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cuda/cuda_info.h"
#include "recur/config.h"

namespace recur {

Backend& backend_for(Device device) {
  if (device.is_cpu()) return cpu_backend();
#if RECUR_HAVE_CUDA
  std::string why;
  const int count = cuda_device_count(&why);
  RECUR_CHECK(count > 0, "{} requested, but no CUDA device visible: {}", device, why);
  RECUR_CHECK(device.index >= 0 && device.index < count, "{} requested, but only {} CUDA device(s) are visible", device,
              count);
  RECUR_FAIL("{} requested, but the CUDA backend has no device ops yet", device);
#else
  RECUR_FAIL("{} requested, but recur was built without the CUDA backend", device);
#endif
}

Allocator& allocator_for(Device device) { return backend_for(device).allocator(); }

}  // namespace recur
