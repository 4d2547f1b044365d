#pragma once
// Independent chains of vector multiply-adds on registers, no memory: the loops that measure a
// core's peak FLOP rate, for bench/fma_peak (the ceiling of every CPU number in bench/RESULTS.md)
// and for cpu_bfloat16_dot_speedup() (`--precision auto`). Header-only, so that bench/fma_peak
// needs no library.
//
// Each function runs `iterations` x 4 x 12 instructions on 12 accumulators (enough to cover the
// latency on two ports) and returns the first lane of the accumulators' sum, which keeps them alive:
//   fma_chains_avx512       VFMADD on 16 float32 lanes: 32 FLOP an instruction
//   fma_chains_avx2         VFMADD on 8 float32 lanes: 16 FLOP an instruction
//   dot_chains_avx512_bf16  VDPBF16PS, each of 16 float32 lanes adding two bfloat16 products:
//                           64 FLOP an instruction
// Callers check the CPU (__builtin_cpu_supports) before calling one.
#if defined(__x86_64__)
#include <immintrin.h>

#define RECUR_CHAINS_ITERATE(op)                                                                     \
  for (long i = 0; i < iterations; ++i) {                                                            \
    for (int unroll = 0; unroll < 4; ++unroll) {                                                     \
      a0 = op(a0, m, c), a1 = op(a1, m, c), a2 = op(a2, m, c), a3 = op(a3, m, c), a4 = op(a4, m, c); \
      a5 = op(a5, m, c), a6 = op(a6, m, c), a7 = op(a7, m, c), a8 = op(a8, m, c), a9 = op(a9, m, c); \
      a10 = op(a10, m, c), a11 = op(a11, m, c);                                                      \
    }                                                                                                \
  }

#define RECUR_CHAINS_START(set1)                                                                            \
  auto a0 = set1(seed), a1 = set1(seed + 1), a2 = set1(seed + 2), a3 = set1(seed + 3), a4 = set1(seed + 4); \
  auto a5 = set1(seed + 5), a6 = set1(seed + 6), a7 = set1(seed + 7), a8 = set1(seed + 8);                  \
  auto a9 = set1(seed + 9), a10 = set1(seed + 10), a11 = set1(seed + 11)

// The first lane of the accumulators' sum, which depends on every chain (no array on the stack:
// none that AddressSanitizer's fake stack would have to align to 64 bytes).
#define RECUR_CHAINS_SUM(add, first) \
  return first(add(add(add(add(a0, a1), add(a2, a3)), add(add(a4, a5), add(a6, a7))), add(add(a8, a9), add(a10, a11))))

namespace recur::chains {

__attribute__((target("avx512f"))) inline float fma_chains_avx512(long iterations, float seed) {
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
  RECUR_CHAINS_START(_mm512_set1_ps);
  RECUR_CHAINS_ITERATE(_mm512_fmadd_ps)
  RECUR_CHAINS_SUM(_mm512_add_ps, _mm512_cvtss_f32);
}

__attribute__((target("avx2,fma"))) inline float fma_chains_avx2(long iterations, float seed) {
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
  RECUR_CHAINS_START(_mm256_set1_ps);
  RECUR_CHAINS_ITERATE(_mm256_fmadd_ps)
  RECUR_CHAINS_SUM(_mm256_add_ps, _mm256_cvtss_f32);
}

__attribute__((target("avx512f,avx512bf16"))) inline float dot_chains_avx512_bf16(long iterations, float seed) {
  const __m512bh m = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
  const __m512bh c = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-6f), _mm512_set1_ps(-1e-6f));
  RECUR_CHAINS_START(_mm512_set1_ps);
  RECUR_CHAINS_ITERATE(_mm512_dpbf16_ps)
  RECUR_CHAINS_SUM(_mm512_add_ps, _mm512_cvtss_f32);
}

}  // namespace recur::chains

#undef RECUR_CHAINS_ITERATE
#undef RECUR_CHAINS_START
#undef RECUR_CHAINS_SUM
#endif
