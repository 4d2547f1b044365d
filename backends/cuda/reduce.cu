// Reductions (sum, mean, max, min over any axes) and argmax.
//
// Three ways to reduce, each correct for every plan:
//  - one block per output (many elements per output: a row sum): the block's threads stride
//    over the reduced index space and combine with a shared-memory tree;
//  - split (very many elements into few outputs: a full sum, a loss): each output's reduced
//    index space is cut into fixed chunks of kChunk elements, one block each writes a partial,
//    and a second pass combines each output's partials in order. The chunking depends only on
//    the sizes, so the result is the same on every run and device;
//  - one thread per output (few elements per output, or the innermost kept axis unit-stride,
//    e.g. a bias gradient summed over rows): neighbouring threads read neighbouring columns.
// argmax: one thread per lane.
#include <cfloat>

#include "backends/cuda/device_common.cuh"
#include "backends/elementwise_math.h"

namespace recur::cuda {
namespace {

template <typename T, ReduceCode Op> struct Reducer {
  // As the CPU (backends/elementwise_math.h): a NaN anywhere wins max and min.
  static __device__ __forceinline__ T identity() { return elementwise_math::reduce_identity<Op, T>(); }
  static __device__ __forceinline__ T combine(T acc, T x) { return elementwise_math::reduce_combine<Op>(acc, x); }
  static __device__ __forceinline__ T finish(T acc, int64_t count) {
    if constexpr (Op == ReduceCode::Mean) {
      return acc / static_cast<T>(count);  // 0 / 0 gives NaN for an empty mean, as on the CPU
    } else {
      return acc;
    }
  }
};

template <typename T, ReduceCode Op> __global__ void reduce_block_kernel(T* out, const T* in, ReducePlan plan) {
  using R = Reducer<T, Op>;
  __shared__ T scratch[kThreads];
  const int64_t count = plan.reduced.numel;
  for (int64_t output = blockIdx.x; output < plan.kept.numel; output += gridDim.x) {
    int64_t at[2];
    offsets_of(plan.kept, output, at);
    T acc = R::identity();
    for (int64_t r = threadIdx.x; r < count; r += blockDim.x) {
      int64_t within[1];
      offsets_of(plan.reduced, r, within);
      acc = R::combine(acc, in[at[1] + within[0]]);
    }
    acc = block_reduce(acc, scratch, [](T x, T y) { return R::combine(x, y); });
    if (threadIdx.x == 0) out[at[0]] = R::finish(acc, count);
  }
}

// Pass 1 of the split reduction: block b combines chunk b % chunks of output b / chunks.
template <typename T, ReduceCode Op>
__global__ void reduce_chunk_kernel(T* partial, const T* in, ReducePlan plan, int64_t chunks) {
  using R = Reducer<T, Op>;
  __shared__ T scratch[kThreads];
  const int64_t count = plan.reduced.numel;
  for (int64_t block = blockIdx.x; block < plan.kept.numel * chunks; block += gridDim.x) {
    const int64_t output = block / chunks, chunk = block % chunks;
    int64_t at[2];
    offsets_of(plan.kept, output, at);
    const int64_t end = (chunk + 1) * kReduceChunk < count ? (chunk + 1) * kReduceChunk : count;
    T acc = R::identity();
    for (int64_t r = chunk * kReduceChunk + threadIdx.x; r < end; r += blockDim.x) {
      int64_t within[1];
      offsets_of(plan.reduced, r, within);
      acc = R::combine(acc, in[at[1] + within[0]]);
    }
    acc = block_reduce(acc, scratch, [](T x, T y) { return R::combine(x, y); });
    if (threadIdx.x == 0) partial[block] = acc;
  }
}

// Pass 2: one block per output combines its `chunks` partials.
template <typename T, ReduceCode Op>
__global__ void reduce_partials_kernel(T* out, const T* partial, ReducePlan plan, int64_t chunks) {
  using R = Reducer<T, Op>;
  __shared__ T scratch[kThreads];
  for (int64_t output = blockIdx.x; output < plan.kept.numel; output += gridDim.x) {
    int64_t at[2];
    offsets_of(plan.kept, output, at);
    T acc = R::identity();
    for (int64_t k = threadIdx.x; k < chunks; k += blockDim.x) acc = R::combine(acc, partial[output * chunks + k]);
    acc = block_reduce(acc, scratch, [](T x, T y) { return R::combine(x, y); });
    if (threadIdx.x == 0) out[at[0]] = R::finish(acc, plan.reduced.numel);
  }
}

template <typename T, ReduceCode Op> __global__ void reduce_thread_kernel(T* out, const T* in, ReducePlan plan) {
  using R = Reducer<T, Op>;
  const int64_t count = plan.reduced.numel;
  for (int64_t output = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; output < plan.kept.numel;
       output += int64_t{gridDim.x} * blockDim.x) {
    int64_t at[2];
    offsets_of(plan.kept, output, at);
    T acc = R::identity();
    for (int64_t r = 0; r < count; ++r) {
      int64_t within[1];
      offsets_of(plan.reduced, r, within);
      acc = R::combine(acc, in[at[1] + within[0]]);
    }
    out[at[0]] = R::finish(acc, count);
  }
}

template <typename T, ReduceCode Op>
void reduce_typed(cudaStream_t stream, T* out, const T* in, const ReducePlan& plan, void* workspace) {
  const int64_t outputs = plan.kept.numel, count = plan.reduced.numel;
  const bool innermost_unit = plan.kept.rank > 0 && plan.kept.strides[1][plan.kept.rank - 1] == 1;
  const int64_t chunks = reduce_chunks(plan);
  if (chunks > 1) {
    T* partial = static_cast<T*>(workspace);
    reduce_chunk_kernel<T, Op><<<blocks_for(outputs * chunks, 1), kThreads, 0, stream>>>(partial, in, plan, chunks);
    const int64_t blocks = outputs < kMaxBlocks ? outputs : kMaxBlocks;
    reduce_partials_kernel<T, Op><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(out, partial, plan, chunks);
  } else if (count <= 32 || (innermost_unit && outputs >= 1024)) {
    reduce_thread_kernel<T, Op><<<blocks_for(outputs), kThreads, 0, stream>>>(out, in, plan);
  } else {
    const int64_t blocks = outputs < kMaxBlocks ? outputs : kMaxBlocks;
    reduce_block_kernel<T, Op><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(out, in, plan);
  }
}

template <typename T>
__global__ void argmax_kernel(int64_t* out, const T* in, Layout2 lanes, int64_t length, int64_t in_step) {
  for (int64_t lane = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; lane < lanes.numel;
       lane += int64_t{gridDim.x} * blockDim.x) {
    int64_t at[2];
    offsets_of(lanes, lane, at);
    const T* x = in + at[1];
    T best = x[0];
    int64_t best_index = 0;
    for (int64_t i = 1; i < length; ++i) {
      const T value = x[i * in_step];
      if (elementwise_math::argmax_better(value, best)) best = value, best_index = i;
    }
    out[at[0]] = best_index;
  }
}

}  // namespace

int64_t reduce_chunks(const ReducePlan& plan) {
  const int64_t outputs = plan.kept.numel, count = plan.reduced.numel;
  // Split only where one block per output would leave most of the GPU idle: fewer outputs than
  // a few hundred blocks' worth, each over several chunks.
  if (outputs == 0 || outputs > 256 || count < 4 * kReduceChunk) return 1;
  return (count + kReduceChunk - 1) / kReduceChunk;
}

size_t reduce_workspace_bytes(ElemType type, const ReducePlan& plan) {
  const int64_t chunks = reduce_chunks(plan);
  if (chunks <= 1) return 0;
  const size_t element = type == ElemType::Float32 ? sizeof(float) : 8;  // float64 and int64
  return static_cast<size_t>(plan.kept.numel * chunks) * element;
}

void launch_reduce(cudaStream_t stream, ReduceCode op, void* out, const void* in, ElemType type, const ReducePlan& plan,
                   void* workspace) {
  if (plan.kept.numel == 0) return;
  dispatch_computing<true>(type, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    T* o = static_cast<T*>(out);
    const T* x = static_cast<const T*>(in);
    switch (op) {
      case ReduceCode::Sum: return reduce_typed<T, ReduceCode::Sum>(stream, o, x, plan, workspace);
      case ReduceCode::Mean:
        if constexpr (std::is_floating_point_v<T>) reduce_typed<T, ReduceCode::Mean>(stream, o, x, plan, workspace);
        return;  // int64 mean is rejected on the host
      case ReduceCode::Max: return reduce_typed<T, ReduceCode::Max>(stream, o, x, plan, workspace);
      case ReduceCode::Min: return reduce_typed<T, ReduceCode::Min>(stream, o, x, plan, workspace);
    }
  });
  RECUR_CUDA_CHECK_LAUNCH();
}

void launch_argmax(cudaStream_t stream, int64_t* out, const void* in, ElemType type, const Layout2& lanes,
                   int64_t length, int64_t in_step) {
  if (lanes.numel == 0) return;
  dispatch_computing<true>(type, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    argmax_kernel<T>
        <<<blocks_for(lanes.numel), kThreads, 0, stream>>>(out, static_cast<const T*>(in), lanes, length, in_step);
  });
  RECUR_CUDA_CHECK_LAUNCH();
}

}  // namespace recur::cuda
