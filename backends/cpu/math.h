// Scalar helpers shared by the CPU kernels.
#pragma once

#include <cstdint>

namespace recur::cpu {

// Sum of n contiguous values: pairwise above 256 values, eight interleaved partial sums
// below (which the compiler vectorises). The rounding error grows as O(log n), not O(n).
template <typename T> T pairwise_sum(const T* x, int64_t n) {
  if (n > 256) {
    const int64_t half = (n / 2 + 7) / 8 * 8;
    return pairwise_sum(x, half) + pairwise_sum(x + half, n - half);
  }
  T lanes[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) lanes[j] += x[i + j];
  }
  T tail = 0;
  for (; i < n; ++i) tail += x[i];
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7])) + tail;
}

// The same with a stride.
template <typename T> T pairwise_sum_strided(const T* x, int64_t n, int64_t step) {
  if (n > 256) {
    const int64_t half = n / 2;
    return pairwise_sum_strided(x, half, step) + pairwise_sum_strided(x + half * step, n - half, step);
  }
  T lanes[4] = {};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (int j = 0; j < 4; ++j) lanes[j] += x[(i + j) * step];
  }
  T tail = 0;
  for (; i < n; ++i) tail += x[i * step];
  return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + tail;
}

}  // namespace recur::cpu
