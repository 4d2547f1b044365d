// Device discovery and library versions, compiled by nvcc. Any CUDA error while counting
// devices (no driver, no device, a driver older than the runtime) means "no GPU": the count
// is 0 and the reason goes to `why`.
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstdio>
#include <string>

#include "backends/cuda_info.h"

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

std::string cuda_device_description(int index) {
  cudaDeviceProp properties{};
  const cudaError_t status = cudaGetDeviceProperties(&properties, index);
  if (status != cudaSuccess) {
    cudaGetLastError();
    return std::string("unknown (") + cudaGetErrorString(status) + ")";
  }
  char memory[32];
  std::snprintf(memory, sizeof(memory), "%.1f GiB", static_cast<double>(properties.totalGlobalMem) / (1 << 30));
  return std::string(properties.name) + ", sm_" + std::to_string(properties.major) + std::to_string(properties.minor) +
         ", " + memory;
}

int cudnn_version_runtime() { return static_cast<int>(cudnnGetVersion()); }

std::string cuda_runtime_version() {
  int version = 0;
  if (cudaRuntimeGetVersion(&version) != cudaSuccess) return "unknown";
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

}  // namespace recur
