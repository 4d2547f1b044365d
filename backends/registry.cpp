// Which backend serves which device: explicit registration, in this one place. The CPU
// backend always; the CUDA backend when compiled in (RECUR_HAVE_CUDA) and a device is
// visible. Backends are created on first use, never at load time.
#include "backends/backend.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cuda_info.h"
#include "backends/profile.h"
#include "recur/config.h"

#if RECUR_HAVE_CUDA
#include "backends/cuda/cuda_backend.h"
#endif

namespace recur {

void check_device(Device device, std::string_view asked_by) {
  if (device.is_cpu()) return;
  // Devices are counted once per process (every op asks for its backend).
  struct Visible {
    int count;
    std::string why;  // without the CUDA backend: "recur was built without the CUDA backend"
  };
  static const Visible visible = [] {
    Visible v;
    v.count = cuda_device_count(&v.why);
    if (v.why.empty()) v.why = "none found";
    return v;
  }();
  const std::string_view separator = asked_by.empty() ? "" : ": ";
  RECUR_CHECK(visible.count > 0, "{}{}{} requested, but no CUDA device is visible: {}", asked_by, separator, device,
              visible.why);
  RECUR_CHECK(device.index >= 0 && device.index < visible.count,
              "{}{}{} requested, but only {} CUDA device(s) are visible", asked_by, separator, device, visible.count);
}

namespace {

Backend& device_backend(Device device) {
  if (device.is_cpu()) return cpu_backend();
  check_device(device);
#if RECUR_HAVE_CUDA
  return cuda_backend(device.index);
#else
  RECUR_FAIL("{} requested, but recur was built without the CUDA backend", device);  // check_device threw already
#endif
}

}  // namespace

Backend& backend_for(Device device) {
  Backend& backend = device_backend(device);
  return profile::recording() ? profile::timed(backend) : backend;  // backends/profile.h
}

Allocator& allocator_for(Device device) { return device_backend(device).allocator(); }

}  // namespace recur
