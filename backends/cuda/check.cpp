// The messages and throws behind RECUR_CUDA_CHECK, RECUR_CUBLAS_CHECK and RECUR_CUDNN_CHECK.
#include "backends/cuda/check.h"

#include <fmt/format.h>

#include "core/error.h"

namespace recur::cuda {
namespace {

std::string format_message(const char* library, const char* status_name, const char* description,
                           const char* expression, const char* function, const char* file, int line) {
  return fmt::format("{} error {} ({}) in {} at {} ({}:{})", library, status_name, description, expression, function,
                     file, line);
}

}  // namespace

std::string cuda_error_message(cudaError_t status, const char* expression, const char* function, const char* file,
                               int line) {
  return format_message("CUDA", cudaGetErrorName(status), cudaGetErrorString(status), expression, function, file, line);
}

std::string cublas_error_message(cublasStatus_t status, const char* expression, const char* function, const char* file,
                                 int line) {
  return format_message("cuBLAS", cublasGetStatusName(status), cublasGetStatusString(status), expression, function,
                        file, line);
}

std::string cudnn_error_message(cudnnStatus_t status, const char* expression, const char* function, const char* file,
                                int line) {
  // cudnnGetErrorString returns the status's name (CUDNN_STATUS_BAD_PARAM...); the code helps
  // when a newer cuDNN reports a sub-code.
  const std::string code = std::to_string(static_cast<int>(status));
  return format_message("cuDNN", cudnnGetErrorString(status), ("status " + code).c_str(), expression, function, file,
                        line);
}

void throw_cuda_error(cudaError_t status, const char* expression, const char* function, const char* file, int line) {
  // Clear the runtime's last-error slot so the next check does not report this failure again
  // (sticky errors, such as an illegal address, stay: the context is unusable after them).
  cudaGetLastError();
  throw Error(cuda_error_message(status, expression, function, file, line));
}

void throw_cublas_error(cublasStatus_t status, const char* expression, const char* function, const char* file,
                        int line) {
  throw Error(cublas_error_message(status, expression, function, file, line));
}

void throw_cudnn_error(cudnnStatus_t status, const char* expression, const char* function, const char* file, int line) {
  throw Error(cudnn_error_message(status, expression, function, file, line));
}

}  // namespace recur::cuda
