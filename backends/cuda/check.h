// Checking CUDA, cuBLAS and cuDNN calls: a failing call throws recur::Error whose message names
// the expression, the library's status name and description, the function, file and line:
//
//   CUDA error cudaErrorMemoryAllocation (out of memory) in cudaMalloc(&ptr, n)
//     at allocate (backends/cuda/context.cpp:42)
//
// This header is included by nvcc-compiled .cu files, so it includes nothing of recur that
// pulls in fmt: the message is built and thrown by functions defined in check.cpp (g++).
// After every kernel launch, RECUR_CUDA_CHECK_LAUNCH() checks cudaGetLastError().
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <string>

namespace recur::cuda {

// The messages the macros throw (exposed so tests can check the format without a GPU).
std::string cuda_error_message(cudaError_t status, const char* expression, const char* function, const char* file,
                               int line);
std::string cublas_error_message(cublasStatus_t status, const char* expression, const char* function, const char* file,
                                 int line);
std::string cudnn_error_message(cudnnStatus_t status, const char* expression, const char* function, const char* file,
                                int line);

// Throw recur::Error with the messages above.
[[noreturn]] void throw_cuda_error(cudaError_t status, const char* expression, const char* function, const char* file,
                                   int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* expression, const char* function,
                                     const char* file, int line);
[[noreturn]] void throw_cudnn_error(cudnnStatus_t status, const char* expression, const char* function,
                                    const char* file, int line);

}  // namespace recur::cuda

#define RECUR_CUDA_CHECK(expression)                                                             \
  do {                                                                                           \
    const cudaError_t recur_status_ = (expression);                                              \
    if (recur_status_ != cudaSuccess) [[unlikely]] {                                             \
      ::recur::cuda::throw_cuda_error(recur_status_, #expression, __func__, __FILE__, __LINE__); \
    }                                                                                            \
  } while (0)

#define RECUR_CUBLAS_CHECK(expression)                                                             \
  do {                                                                                             \
    const cublasStatus_t recur_status_ = (expression);                                             \
    if (recur_status_ != CUBLAS_STATUS_SUCCESS) [[unlikely]] {                                     \
      ::recur::cuda::throw_cublas_error(recur_status_, #expression, __func__, __FILE__, __LINE__); \
    }                                                                                              \
  } while (0)

#define RECUR_CUDNN_CHECK(expression)                                                             \
  do {                                                                                            \
    const cudnnStatus_t recur_status_ = (expression);                                             \
    if (recur_status_ != CUDNN_STATUS_SUCCESS) [[unlikely]] {                                     \
      ::recur::cuda::throw_cudnn_error(recur_status_, #expression, __func__, __FILE__, __LINE__); \
    }                                                                                             \
  } while (0)

// After a kernel launch: a bad configuration or an earlier asynchronous fault shows up here.
#define RECUR_CUDA_CHECK_LAUNCH() RECUR_CUDA_CHECK(cudaGetLastError())
