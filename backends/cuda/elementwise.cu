// Elementwise kernels: copy (with dtype conversion), fill, unary, binary, where, axpby. One
// thread per element in a grid-stride loop, offsets from the strided layout (kernels.h); the
// op is a switch on a code that is uniform across the grid.
#include <cstring>

#include "backends/cuda/device_common.cuh"
#include "backends/elementwise_math.h"

namespace recur::cuda {
namespace {

template <ElemType Dst, ElemType Src> __global__ void copy_kernel(void* dst, const void* src, Layout2 layout) {
  using DstCodec = DeviceCodec<Dst>;
  using SrcCodec = DeviceCodec<Src>;
  auto* out = static_cast<typename DstCodec::Storage*>(dst);
  const auto* in = static_cast<const typename SrcCodec::Storage*>(src);
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < layout.numel;
       i += int64_t{gridDim.x} * blockDim.x) {
    int64_t at[2];
    offsets_of(layout, i, at);
    out[at[0]] = DstCodec::store(convert_value<typename DstCodec::Value>(SrcCodec::load(in[at[1]])));
  }
}

template <ElemType E> __global__ void fill_kernel(void* out, Layout1 layout, typename DeviceCodec<E>::Storage value) {
  auto* data = static_cast<typename DeviceCodec<E>::Storage*>(out);
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < layout.numel;
       i += int64_t{gridDim.x} * blockDim.x) {
    int64_t at[1];
    offsets_of(layout, i, at);
    data[at[0]] = value;
  }
}

// The op's formula (backends/elementwise_math.h, shared with the CPU), chosen per element by a
// switch on a code that is the same for the whole grid.
template <typename T> __device__ __forceinline__ T apply_unary(UnaryCode op, T x, T a, T b) {
  return elementwise_math::visit(op, [&](auto tag) { return elementwise_math::unary<decltype(tag)::value>(x, a, b); });
}

template <typename T> __global__ void unary_kernel(UnaryCode op, T* out, const T* in, Layout2 layout, T a, T b) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < layout.numel;
       i += int64_t{gridDim.x} * blockDim.x) {
    int64_t at[2];
    offsets_of(layout, i, at);
    out[at[0]] = apply_unary<T>(op, in[at[1]], a, b);
  }
}

template <typename T> __device__ __forceinline__ T apply_binary(BinaryCode op, T x, T y) {
  return elementwise_math::visit(op, [&](auto tag) { return elementwise_math::binary<decltype(tag)::value>(x, y); });
}

template <typename T> __global__ void binary_kernel(BinaryCode op, T* out, const T* a, const T* b, Layout3 layout) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < layout.numel;
       i += int64_t{gridDim.x} * blockDim.x) {
    int64_t at[3];
    offsets_of(layout, i, at);
    out[at[0]] = apply_binary<T>(op, a[at[1]], b[at[2]]);
  }
}

template <typename T> __global__ void where_kernel(T* out, const T* cond, const T* a, const T* b, Layout4 layout) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < layout.numel;
       i += int64_t{gridDim.x} * blockDim.x) {
    int64_t at[4];
    offsets_of(layout, i, at);
    out[at[0]] = cond[at[1]] != T(0) ? a[at[2]] : b[at[3]];
  }
}

// out = alpha x + beta out, computed in the codec's Value type (float for float16/bfloat16, so
// gradients of reduced-precision tensors accumulate with one rounding per step).
template <ElemType E> __global__ void axpby_kernel(void* out_raw, const void* x_raw, Layout2 layout,
                                                   typename DeviceCodec<E>::Value alpha,
                                                   typename DeviceCodec<E>::Value beta, bool read_out) {
  using Codec = DeviceCodec<E>;
  auto* out = static_cast<typename Codec::Storage*>(out_raw);
  const auto* x = static_cast<const typename Codec::Storage*>(x_raw);
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < layout.numel;
       i += int64_t{gridDim.x} * blockDim.x) {
    int64_t at[2];
    offsets_of(layout, i, at);
    const typename Codec::Value ax = alpha * Codec::load(x[at[1]]);
    out[at[0]] = Codec::store(read_out ? ax + beta * Codec::load(out[at[0]]) : ax);
  }
}

}  // namespace

void launch_copy(cudaStream_t stream, void* dst, ElemType dst_type, const void* src, ElemType src_type,
                 const Layout2& layout) {
  if (layout.numel == 0) return;
  dispatch_elem(dst_type, [&](auto dst_tag) {
    dispatch_elem(src_type, [&](auto src_tag) {
      copy_kernel<decltype(dst_tag)::value, decltype(src_tag)::value>
          <<<blocks_for(layout.numel), kThreads, 0, stream>>>(dst, src, layout);
    });
  });
  RECUR_CUDA_CHECK_LAUNCH();
}

void launch_fill(cudaStream_t stream, void* out, ElemType type, const Layout1& layout, double value) {
  if (layout.numel == 0) return;
  // The stored pattern is computed on the host exactly as the device codec would.
  dispatch_elem(type, [&](auto tag) {
    constexpr ElemType E = decltype(tag)::value;
    using Codec = DeviceCodec<E>;
    typename Codec::Storage stored{};
    if constexpr (E == ElemType::Float32) {
      stored = static_cast<float>(value);
    } else if constexpr (E == ElemType::Float64) {
      stored = value;
    } else if constexpr (E == ElemType::Float16) {
      const __half half = __float2half_rn(static_cast<float>(value));
      memcpy(&stored, &half, 2);
    } else if constexpr (E == ElemType::BFloat16) {
      float f = static_cast<float>(value);
      uint32_t bits;
      memcpy(&bits, &f, 4);
      if ((bits & 0x7fffffffu) > 0x7f800000u) {
        stored = static_cast<uint16_t>((bits >> 16) | 0x40u);
      } else {
        bits += 0x7fffu + ((bits >> 16) & 1u);
        stored = static_cast<uint16_t>(bits >> 16);
      }
    } else {
      if (value != value) {
        stored = 0;
      } else if (value >= 9.2233720368547758e18) {
        stored = INT64_MAX;
      } else if (value <= -9.2233720368547758e18) {
        stored = INT64_MIN;
      } else {
        stored = static_cast<int64_t>(value);
      }
    }
    fill_kernel<E><<<blocks_for(layout.numel), kThreads, 0, stream>>>(out, layout, stored);
  });
  RECUR_CUDA_CHECK_LAUNCH();
}

void launch_unary(cudaStream_t stream, UnaryCode op, void* out, const void* in, ElemType type, const Layout2& layout,
                  double a, double b) {
  if (layout.numel == 0) return;
  dispatch_computing<false>(type, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    unary_kernel<T><<<blocks_for(layout.numel), kThreads, 0, stream>>>(
        op, static_cast<T*>(out), static_cast<const T*>(in), layout, static_cast<T>(a), static_cast<T>(b));
  });
  RECUR_CUDA_CHECK_LAUNCH();
}

void launch_binary(cudaStream_t stream, BinaryCode op, void* out, const void* a, const void* b, ElemType type,
                   const Layout3& layout) {
  if (layout.numel == 0) return;
  dispatch_computing<true>(type, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    binary_kernel<T><<<blocks_for(layout.numel), kThreads, 0, stream>>>(
        op, static_cast<T*>(out), static_cast<const T*>(a), static_cast<const T*>(b), layout);
  });
  RECUR_CUDA_CHECK_LAUNCH();
}

void launch_where(cudaStream_t stream, void* out, const void* cond, const void* a, const void* b, ElemType type,
                  const Layout4& layout) {
  if (layout.numel == 0) return;
  dispatch_computing<true>(type, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    where_kernel<T><<<blocks_for(layout.numel), kThreads, 0, stream>>>(
        static_cast<T*>(out), static_cast<const T*>(cond), static_cast<const T*>(a), static_cast<const T*>(b), layout);
  });
  RECUR_CUDA_CHECK_LAUNCH();
}

void launch_axpby(cudaStream_t stream, void* out, const void* x, ElemType type, const Layout2& layout, double alpha,
                  double beta) {
  if (layout.numel == 0) return;
  dispatch_elem(type, [&](auto tag) {
    constexpr ElemType E = decltype(tag)::value;
    if constexpr (E != ElemType::Int64) {  // the host accepts floating dtypes only
      using Value = typename DeviceCodec<E>::Value;
      axpby_kernel<E><<<blocks_for(layout.numel), kThreads, 0, stream>>>(out, x, layout, static_cast<Value>(alpha),
                                                                         static_cast<Value>(beta), beta != 0.0);
    }
  });
  RECUR_CUDA_CHECK_LAUNCH();
}

}  // namespace recur::cuda
