// Random fills from Philox 4x32-10 streams (core/philox.h), as backend.h specifies, so that
// any device reproduces the same numbers for the same (seed, first_block):
//   element i (row-major over out) uses block first_block + i / 4, word i % 4;
//   uniform:   low + (high - low) * u,             u = Philox::to_unit(word) in (0, 1]
//   normal:    Box-Muller on words (0, 1) and (2, 3) of a block:
//              z0 = r cos(t), z1 = r sin(t),  r = sqrt(-2 ln u0),  t = 2 pi u1
//   bernoulli: scale if u < keep_prob, else 0
// Values are computed in double and rounded once to the output dtype. A non-contiguous or
// non-float32/64 output is filled through a contiguous float64 buffer and copied.
#include <cmath>
#include <numbers>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/strided.h"
#include "core/philox.h"

namespace recur {
namespace {

// Fills out (contiguous, float32 or float64) with block_values(words, values) for each block:
// words are the block's 4 Philox words, values the 4 outputs it writes.
template <typename BlockValues>
void fill_blocks(Tensor& out, uint64_t seed, uint64_t first_block, const BlockValues& block_values) {
  const int64_t n = out.numel(), blocks = (n + 3) / 4;
  const auto run = [&]<typename T>(T* data) {
    cpu::parallel_for(blocks, cpu::kParallelGrain / 16, [&](int64_t begin, int64_t end) {
      double values[4];
      for (int64_t block = begin; block < end; ++block) {
        block_values(Philox::block(seed, first_block + static_cast<uint64_t>(block)), values);
        const int64_t first = block * 4, last = std::min<int64_t>(first + 4, n);
        for (int64_t i = first; i < last; ++i) data[i] = static_cast<T>(values[i - first]);
      }
    });
  };
  const bool direct = out.is_contiguous() && (out.dtype() == DType::Float32 || out.dtype() == DType::Float64);
  if (direct && out.dtype() == DType::Float32) return run(static_cast<float*>(out.raw_data()));
  if (direct) return run(static_cast<double*>(out.raw_data()));
  RECUR_CHECK(is_floating(out.dtype()), "random fill: expected a floating-point tensor, got {}", out.describe());
  Tensor staging = make_contiguous_tensor(out.shape(), DType::Float64, Device::cpu());
  run(static_cast<double*>(staging.raw_data()));
  cpu_backend().copy(out, staging);
}

}  // namespace

void CpuBackend::fill_uniform(Tensor& out, uint64_t seed, uint64_t first_block, double low, double high) {
  const double range = high - low;
  fill_blocks(out, seed, first_block, [&](const std::array<uint32_t, 4>& words, double* values) {
    for (int k = 0; k < 4; ++k) values[k] = low + range * Philox::to_unit(words[k]);
  });
}

void CpuBackend::fill_normal(Tensor& out, uint64_t seed, uint64_t first_block, double mean, double std) {
  fill_blocks(out, seed, first_block, [&](const std::array<uint32_t, 4>& words, double* values) {
    for (int pair = 0; pair < 2; ++pair) {
      const double r = std::sqrt(-2.0 * std::log(Philox::to_unit(words[2 * pair])));
      const double t = 2.0 * std::numbers::pi * Philox::to_unit(words[2 * pair + 1]);
      values[2 * pair] = mean + std * r * std::cos(t);
      values[2 * pair + 1] = mean + std * r * std::sin(t);
    }
  });
}

void CpuBackend::fill_bernoulli(Tensor& out, uint64_t seed, uint64_t first_block, double keep_prob, double scale) {
  fill_blocks(out, seed, first_block, [&](const std::array<uint32_t, 4>& words, double* values) {
    for (int k = 0; k < 4; ++k) values[k] = Philox::to_unit(words[k]) < keep_prob ? scale : 0.0;
  });
}

}  // namespace recur
