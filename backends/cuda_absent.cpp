// The answers of backends/cuda_info.h in a build without the CUDA backend.
#include "recur/config.h"

#if !RECUR_HAVE_CUDA

#include "backends/cuda_info.h"

namespace recur {

bool cuda_compiled() { return false; }

int cuda_device_count(std::string* why) {
  if (why != nullptr) *why = "recur was built without the CUDA backend";
  return 0;
}

std::string cuda_device_description(int) { return "none (recur was built without the CUDA backend)"; }

int cudnn_version_runtime() { return 0; }

std::string cuda_runtime_version() { return "none"; }

}  // namespace recur

#endif  // !RECUR_HAVE_CUDA
