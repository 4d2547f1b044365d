// Random fills on the GPU, reproducing the CPU's streams (backends/cpu/random.cpp): one thread
// per Philox block, each writing up to 4 consecutive elements (row-major over the output).
#include "backends/cuda/device_common.cuh"
#include "backends/cuda/philox.cuh"

namespace recur::cuda {
namespace {

constexpr double kTwoPi = 6.283185307179586476925286766559;

template <ElemType E> __device__ __forceinline__ void store_value(void* out, int64_t offset, double value) {
  using Codec = DeviceCodec<E>;
  using Value = typename Codec::Value;
  // double -> the compute type (float for float16/bfloat16, as the CPU's staging copy) -> storage.
  static_cast<typename Codec::Storage*>(out)[offset] = Codec::store(static_cast<Value>(value));
}

template <ElemType E> __global__ void random_kernel(RandomCode kind, void* out, Layout1 layout, uint64_t seed,
                                                    uint64_t first_block, double p0, double p1) {
  const int64_t blocks = (layout.numel + 3) / 4;
  for (int64_t block = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; block < blocks;
       block += int64_t{gridDim.x} * blockDim.x) {
    const PhiloxWords words = philox_block(seed, first_block + static_cast<uint64_t>(block));
    double values[4];
    if (kind == RandomCode::Uniform) {
      const double range = p1 - p0;
      for (int k = 0; k < 4; ++k) values[k] = p0 + range * philox_unit(words.word[k]);
    } else if (kind == RandomCode::Normal) {
      for (int pair = 0; pair < 2; ++pair) {
        const double r = sqrt(-2.0 * log(philox_unit(words.word[2 * pair])));
        const double t = kTwoPi * philox_unit(words.word[2 * pair + 1]);
        values[2 * pair] = p0 + p1 * r * cos(t);
        values[2 * pair + 1] = p0 + p1 * r * sin(t);
      }
    } else {
      for (int k = 0; k < 4; ++k) values[k] = philox_unit(words.word[k]) < p0 ? p1 : 0.0;
    }
    const int64_t first = block * 4;
    for (int k = 0; k < 4 && first + k < layout.numel; ++k) {
      int64_t at[1];
      offsets_of(layout, first + k, at);
      store_value<E>(out, at[0], values[k]);
    }
  }
}

}  // namespace

void launch_random(cudaStream_t stream, RandomCode kind, void* out, ElemType type, const Layout1& layout, uint64_t seed,
                   uint64_t first_block, double p0, double p1) {
  if (layout.numel == 0) return;
  const int64_t blocks = (layout.numel + 3) / 4;
  dispatch_elem(type, [&](auto tag) {
    constexpr ElemType E = decltype(tag)::value;
    if constexpr (E != ElemType::Int64) {  // the host rejects int64
      random_kernel<E><<<blocks_for(blocks), kThreads, 0, stream>>>(kind, out, layout, seed, first_block, p0, p1);
    }
  });
  RECUR_CUDA_CHECK_LAUNCH();
}

}  // namespace recur::cuda
