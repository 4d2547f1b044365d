// Device helpers shared by the .cu files: strided offsets, launch sizes, dtype codecs and a
// block-wide reduction. nvcc only.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "backends/cuda/check.h"
#include "backends/cuda/kernels.h"
#include "backends/dtype_dispatch.h"
#include "backends/elementwise_math.h"

namespace recur::cuda {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t{1} << 16;  // grid-stride loops cover the rest

inline unsigned blocks_for(int64_t work, int threads = kThreads) {
  const int64_t blocks = (work + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > kMaxBlocks ? kMaxBlocks : blocks));
}

// Element offsets of linear index `linear` (row-major over layout.sizes) for each operand.
template <int N>
__device__ __forceinline__ void offsets_of(const StridedLayout<N>& layout, int64_t linear, int64_t (&offsets)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) offsets[k] = 0;
#pragma unroll
  for (int d = kMaxDims - 1; d >= 0; --d) {
    if (d < layout.rank) {
      const int64_t size = layout.sizes[d];
      const int64_t coordinate = linear % size;
      linear /= size;
#pragma unroll
      for (int k = 0; k < N; ++k) offsets[k] += coordinate * layout.strides[k][d];
    }
  }
}

// Storage and compute types of each dtype; float16/bfloat16 are stored as 16-bit patterns and
// computed as float (bfloat16 rounding is the CPU's bit-exact algorithm, core/dtype.h).
template <ElemType E> struct DeviceCodec;
template <> struct DeviceCodec<ElemType::Float32> {
  using Storage = float;
  using Value = float;
  static __device__ __forceinline__ Value load(Storage s) { return s; }
  static __device__ __forceinline__ Storage store(Value v) { return v; }
};
template <> struct DeviceCodec<ElemType::Float64> {
  using Storage = double;
  using Value = double;
  static __device__ __forceinline__ Value load(Storage s) { return s; }
  static __device__ __forceinline__ Storage store(Value v) { return v; }
};
template <> struct DeviceCodec<ElemType::Float16> {
  using Storage = uint16_t;
  using Value = float;
  static __device__ __forceinline__ Value load(Storage s) { return __half2float(__ushort_as_half(s)); }
  static __device__ __forceinline__ Storage store(Value v) { return __half_as_ushort(__float2half_rn(v)); }
};
template <> struct DeviceCodec<ElemType::BFloat16> {
  using Storage = uint16_t;
  using Value = float;
  static __device__ __forceinline__ Value load(Storage s) { return __uint_as_float(static_cast<uint32_t>(s) << 16); }
  static __device__ __forceinline__ Storage store(Value v) {
    uint32_t bits = __float_as_uint(v);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);  // NaN
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return static_cast<uint16_t>(bits >> 16);
  }
};
template <> struct DeviceCodec<ElemType::Int64> {
  using Storage = int64_t;
  using Value = int64_t;
  static __device__ __forceinline__ Value load(Storage s) { return s; }
  static __device__ __forceinline__ Storage store(Value v) { return v; }
};

// Value conversion (floating to int64 truncates, saturates, maps NaN to 0): written once for
// both devices in backends/elementwise_math.h.
using elementwise_math::convert_value;

// f(std::integral_constant<ElemType, E>{}) for the runtime dtype (host side of a launcher).
template <typename F> void dispatch_elem(ElemType type, const F& f) { dispatch_dtype(type, f); }

// f((T*)nullptr) for float32/float64 (and int64 when allowed); the host checked the dtype.
template <bool WithInt64, typename F> void dispatch_computing(ElemType type, const F& f) {
  switch (type) {
    case ElemType::Float32: f(static_cast<float*>(nullptr)); return;
    case ElemType::Float64: f(static_cast<double*>(nullptr)); return;
    case ElemType::Int64:
      if constexpr (WithInt64) f(static_cast<int64_t*>(nullptr));
      return;
    default: return;
  }
}

// Combines `value` across the block (blockDim.x a power of two, at most kThreads); every
// thread gets the result. `scratch` holds blockDim.x values.
template <typename T, typename Combine> __device__ T block_reduce(T value, T* scratch, const Combine& combine) {
  const unsigned tid = threadIdx.x;
  scratch[tid] = value;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half >>= 1) {
    if (tid < half) scratch[tid] = combine(scratch[tid], scratch[tid + half]);
    __syncthreads();
  }
  const T result = scratch[0];
  __syncthreads();  // scratch may be reused right after
  return result;
}

// Records the first error of the kernels since the host last looked (kernels.h); later ones are
// dropped. The host reads the record only after a synchronisation, so plain stores suffice.
__device__ __forceinline__ void record_error(int64_t* record, DeviceErrorCode code, int64_t value, int64_t limit,
                                             int64_t position) {
  auto* slot = reinterpret_cast<unsigned long long*>(record);
  if (atomicCAS(slot, 0ull, static_cast<unsigned long long>(code)) == 0ull) {
    record[1] = value;
    record[2] = limit;
    record[3] = position;
  }
}

// Threads per block for lanes of `length` elements: a power of two in [32, kThreads].
inline int lane_threads(int64_t length) {
  int threads = 32;
  while (threads < kThreads && threads < length) threads *= 2;
  return threads;
}

}  // namespace recur::cuda
