// RAII for cuDNN's descriptors: one small class per descriptor kind, created on construction,
// destroyed with the object (never copied). Used by the cuDNN RNN (backends/cuda/cudnn_rnn.cpp).
#pragma once

#include <cudnn.h>

#include <vector>

#include "backends/cuda/check.h"

namespace recur::cuda {

template <typename Handle, cudnnStatus_t (*Create)(Handle*), cudnnStatus_t (*Destroy)(Handle)> class CudnnDescriptor {
 public:
  CudnnDescriptor() { RECUR_CUDNN_CHECK(Create(&handle_)); }
  ~CudnnDescriptor() {
    if (handle_ != nullptr) Destroy(handle_);  // a destructor must not throw
  }
  CudnnDescriptor(const CudnnDescriptor&) = delete;
  CudnnDescriptor& operator=(const CudnnDescriptor&) = delete;
  Handle get() const { return handle_; }

 private:
  Handle handle_ = nullptr;
};

using RnnDescriptor = CudnnDescriptor<cudnnRNNDescriptor_t, cudnnCreateRNNDescriptor, cudnnDestroyRNNDescriptor>;
using RnnDataDescriptor =
    CudnnDescriptor<cudnnRNNDataDescriptor_t, cudnnCreateRNNDataDescriptor, cudnnDestroyRNNDataDescriptor>;
using TensorDescriptor =
    CudnnDescriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using DropoutDescriptor =
    CudnnDescriptor<cudnnDropoutDescriptor_t, cudnnCreateDropoutDescriptor, cudnnDestroyDropoutDescriptor>;

// A fully packed 3-D tensor descriptor [d0, d1, d2] (cuDNN's hx/cx layout).
inline void set_packed_3d(const TensorDescriptor& descriptor, cudnnDataType_t type, int d0, int d1, int d2) {
  const int dims[3] = {d0, d1, d2};
  const int strides[3] = {d1 * d2, d2, 1};
  RECUR_CUDNN_CHECK(cudnnSetTensorNdDescriptor(descriptor.get(), type, 3, dims, strides));
}

// The number of elements a descriptor returned by cudnnGetRNNWeightParams describes.
inline long long described_elements(const TensorDescriptor& descriptor) {
  cudnnDataType_t type;
  int rank = 0;
  int dims[8] = {}, strides[8] = {};
  RECUR_CUDNN_CHECK(cudnnGetTensorNdDescriptor(descriptor.get(), 8, &type, &rank, dims, strides));
  long long count = 1;
  for (int i = 0; i < rank; ++i) count *= dims[i];
  return rank == 0 ? 0 : count;
}

}  // namespace recur::cuda
