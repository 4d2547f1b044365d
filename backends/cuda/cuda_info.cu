// Device discovery and library versions, compiled by nvcc. Any CUDA error while counting
// devices (no driver, no device, a driver older than the runtime) means "no GPU": the count
// is 0 and the reason goes to `why`.
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <string>

#include "backends/cuda/cuda_info.h"

namespace recur {

bool cuda_compiled() { return true; }

int cuda_device_count(std::string* why) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    if (why != nullptr) *why = cudaGetErrorString(status);
    cudaGetLastError();  // reset the last-error state so later calls do not report this one
    return 0;
  }
  if (count == 0 && why != nullptr) *why = "the CUDA runtime reports 0 devices";
  return count;
}

int cudnn_version_runtime() { return static_cast<int>(cudnnGetVersion()); }

std::string cuda_runtime_version() {
  int version = 0;
  if (cudaRuntimeGetVersion(&version) != cudaSuccess) return "unknown";
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

}  // namespace recur
