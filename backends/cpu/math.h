// Scalar helpers shared by the CPU kernels.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace recur::cpu {

// e^x in float: branch-free (Cody-Waite reduction, degree-6 polynomial, ~2 ulp), so that loops
// calling it vectorise. x is clamped to [-87, 88] (e^-87 is about 1.6e-38, not 0).
inline float exp_fast(float x) {
  x = x < -87.0f ? -87.0f : x;  // written as selects (no branches) so that loops vectorise
  x = x > 88.0f ? 88.0f : x;
  // n = round(x / ln 2) by the 1.5 * 2^23 trick (round to nearest even, branch-free)
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // A NaN x gives a NaN p; the exponent is taken from 0 then, since casting NaN to an integer is
  // undefined (the select keeps the loop branch-free).
  const float n_finite = n == n ? n : 0.0f;
  const int32_t bits = (static_cast<int32_t>(n_finite) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}
// e^x: exp_fast for float, the C library's for double (float64's 1e-10 agreement).
inline float exp_of(float x) { return exp_fast(x); }
inline double exp_of(double x) { return std::exp(x); }

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
