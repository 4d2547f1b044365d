// What the CUDA side of this build can see: devices, runtime and cuDNN versions (part of the
// runtime settings of backends/settings.h; on its own here so that cuda_info.cu includes no
// more than <string>).
//
// Every function here is safe to call on a machine without a GPU or driver, and in a build
// without the CUDA backend (backends/cuda_absent.cpp then answers). Nothing here creates a
// CUDA context or a library handle.
#pragma once

#include <string>

namespace recur {

// Declared with their default arguments in backends/backend.h.
bool cuda_compiled();
int cuda_device_count(std::string* why);

// "NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB" for visible device `index`, or the error's text.
std::string cuda_device_description(int index);

// cudnnGetVersion() of the cuDNN loaded at run time (e.g. 91900 for 9.19.0); 0 when the
// CUDA backend is not compiled.
int cudnn_version_runtime();
// The CUDA runtime's version as "major.minor" (cudaRuntimeGetVersion), e.g. "13.0"; "none"
// when the CUDA backend is not compiled.
std::string cuda_runtime_version();

}  // namespace recur
