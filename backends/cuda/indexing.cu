// index_select (embedding lookups) and index_add (their gradients) along any axis: one thread
// per element of the indexed side, the axis coordinate mapped through the index; index_add
// accumulates with atomicAdd so repeated indices add up (double atomicAdd needs sm_60+).
// An index out of range is skipped (nothing outside the tensor is touched) and recorded in the
// context's error record, which the host reports at its next synchronisation (kernels.h).
#include "backends/cuda/device_common.cuh"

namespace recur::cuda {
namespace {

// Offsets of `linear` for [mapped, plain] where the mapped operand's coordinate along `axis`
// is index[coordinate * index_stride]. Returns false for an out-of-range index, after recording
// it as `code`.
__device__ __forceinline__ bool mapped_offsets(const Layout2& layout, int64_t linear, int axis, const int64_t* index,
                                               int64_t index_stride, int64_t axis_size, int64_t (&at)[2],
                                               int64_t* error_record, DeviceErrorCode code) {
  at[0] = at[1] = 0;
#pragma unroll
  for (int d = kMaxDims - 1; d >= 0; --d) {
    if (d < layout.rank) {
      const int64_t size = layout.sizes[d];
      const int64_t coordinate = linear % size;
      linear /= size;
      int64_t mapped = coordinate;
      if (d == axis) {
        mapped = index[coordinate * index_stride];
        if (mapped < 0 || mapped >= axis_size) {
          record_error(error_record, code, mapped, axis_size, coordinate);
          return false;
        }
      }
      at[0] += mapped * layout.strides[0][d];
      at[1] += coordinate * layout.strides[1][d];
    }
  }
  return true;
}

template <typename T> __global__ void index_select_kernel(T* out, const T* in, Layout2 layout, int axis,
                                                          const int64_t* index, int64_t index_stride,
                                                          int64_t in_axis_size, int64_t* error_record) {
  // The layout's strides are [in, out] here: in is the mapped operand.
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < layout.numel;
       i += int64_t{gridDim.x} * blockDim.x) {
    int64_t at[2];
    if (mapped_offsets(layout, i, axis, index, index_stride, in_axis_size, at, error_record,
                       DeviceErrorCode::IndexSelect)) {
      out[at[1]] = in[at[0]];
    }
  }
}

__device__ __forceinline__ void atomic_add(float* address, float value) { atomicAdd(address, value); }
__device__ __forceinline__ void atomic_add(double* address, double value) { atomicAdd(address, value); }
__device__ __forceinline__ void atomic_add(int64_t* address, int64_t value) {
  // Two's complement: unsigned addition wraps exactly as signed addition would.
  atomicAdd(reinterpret_cast<unsigned long long*>(address), static_cast<unsigned long long>(value));
}

template <typename T> __global__ void index_add_kernel(T* out, const T* src, Layout2 layout, int axis,
                                                       const int64_t* index, int64_t index_stride,
                                                       int64_t out_axis_size, int64_t* error_record) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < layout.numel;
       i += int64_t{gridDim.x} * blockDim.x) {
    int64_t at[2];
    if (mapped_offsets(layout, i, axis, index, index_stride, out_axis_size, at, error_record,
                       DeviceErrorCode::IndexAdd)) {
      atomic_add(out + at[0], src[at[1]]);
    }
  }
}

}  // namespace

void launch_index_select(cudaStream_t stream, void* out, const void* in, int element_bytes, const Layout2& layout,
                         int axis, const int64_t* index, int64_t index_stride, int64_t in_axis_size,
                         int64_t* error_record) {
  if (layout.numel == 0) return;
  // Swap the operands' strides so that `in` is the mapped one.
  Layout2 swapped = layout;
  for (int d = 0; d < kMaxDims; ++d) {
    swapped.strides[0][d] = layout.strides[1][d];
    swapped.strides[1][d] = layout.strides[0][d];
  }
  const unsigned blocks = blocks_for(layout.numel);
  switch (element_bytes) {
    case 2:
      index_select_kernel<uint16_t><<<blocks, kThreads, 0, stream>>>(static_cast<uint16_t*>(out),
                                                                     static_cast<const uint16_t*>(in), swapped, axis,
                                                                     index, index_stride, in_axis_size, error_record);
      break;
    case 4:
      index_select_kernel<uint32_t><<<blocks, kThreads, 0, stream>>>(static_cast<uint32_t*>(out),
                                                                     static_cast<const uint32_t*>(in), swapped, axis,
                                                                     index, index_stride, in_axis_size, error_record);
      break;
    default:
      index_select_kernel<uint64_t><<<blocks, kThreads, 0, stream>>>(static_cast<uint64_t*>(out),
                                                                     static_cast<const uint64_t*>(in), swapped, axis,
                                                                     index, index_stride, in_axis_size, error_record);
      break;
  }
  RECUR_CUDA_CHECK_LAUNCH();
}

void launch_index_add(cudaStream_t stream, void* out, const void* src, ElemType type, const Layout2& layout, int axis,
                      const int64_t* index, int64_t index_stride, int64_t out_axis_size, int64_t* error_record) {
  if (layout.numel == 0) return;
  dispatch_computing<true>(type, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    index_add_kernel<T>
        <<<blocks_for(layout.numel), kThreads, 0, stream>>>(static_cast<T*>(out), static_cast<const T*>(src), layout,
                                                            axis, index, index_stride, out_axis_size, error_record);
  });
  RECUR_CUDA_CHECK_LAUNCH();
}

}  // namespace recur::cuda
