// The per-device settings of backends/settings.h. The CPU GEMM provider lives with the GEMM
// (backends/cpu/gemm.cpp), the thread budget in threading.cpp, what CUDA can see in
// backends/cuda/cuda_info.cu (or cuda_absent.cpp).
#include "backends/settings.h"

#include "backends/backend.h"
#include "recur/config.h"

#if RECUR_HAVE_CUDA
#include "backends/cuda/cuda_backend.h"
#endif

namespace recur {

void set_allow_tf32(Device device, bool allow) {
  if (!device.is_cuda()) return;  // the CPU computes float32 in float32
  (void)backend_for(device);      // recur::Error with the reason when the device is not visible
#if RECUR_HAVE_CUDA
  cuda_backend(device.index).set_allow_tf32(allow);
#else
  (void)allow;
#endif
}

bool allow_tf32(Device device) {
  if (!device.is_cuda()) return false;
  (void)backend_for(device);
#if RECUR_HAVE_CUDA
  return cuda_backend(device.index).allow_tf32();
#else
  return false;
#endif
}

void set_allow_reduced_precision(Device device, bool allow) {
  if (!device.is_cuda()) return;
  (void)backend_for(device);
#if RECUR_HAVE_CUDA
  cuda_backend(device.index).set_allow_reduced_precision(allow);
#else
  (void)allow;
#endif
}

std::string device_description(Device device) {
  return device.is_cuda() ? cuda_device_description(device.index) : std::string("cpu");
}

}  // namespace recur
