// How fast this core multiplies bfloat16 pairs against float32 FMAs (backends/settings.h,
// cpu_bfloat16_dot_speedup), the measurement behind `--precision auto` without AMX.
//
// Without AMX a bfloat16 GEMM runs on VDPBF16PS: each of 16 float32 lanes adds two bfloat16
// products, 64 FLOP an instruction against an FMA's 32. Whether that pays depends on the core,
// not on the flags: where VDPBF16PS issues at the FMA's rate (AMD Zen 4: measured 2.0x the FMA
// rate, bfloat16 GEMMs 1.9-2.0x float32's), bfloat16 doubles the GEMM peak; where it issues at a
// quarter of it (an Intel Xeon without AMX: 0.5x, bfloat16 GEMMs 0.5-0.65x float32's), it halves
// it. So recur measures: 12 independent chains of each instruction on the calling thread (the
// same loops as bench/fma_peak), about 1 ms each, three alternating rounds, the best round of
// each; the two rates differ by 4x between those cores, far beyond the noise of a busy machine.
#include <algorithm>
#include <chrono>
#include <mutex>

#include "backends/cpu/vector_chains.h"
#include "backends/settings.h"

namespace recur {
namespace {

#if defined(__x86_64__)
volatile float g_sink;

// Seconds for `iterations` of `chains`.
double seconds_of(float (*chains)(long, float), long iterations) {
  const auto start = std::chrono::steady_clock::now();
  g_sink = chains(iterations, 0.0f);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double measure_speedup() {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bf16")) return 0.0;
  // Iterations for about 1 ms of FMAs (48 instructions an iteration, one or two a cycle).
  long iterations = 1024;
  while (seconds_of(chains::fma_chains_avx512, iterations) < 2e-4 && iterations < (1L << 30)) iterations *= 2;
  iterations *= 5;
  double fma = 1e30, dot = 1e30;  // the best round's seconds of each
  for (int round = 0; round < 3; ++round) {
    fma = std::min(fma, seconds_of(chains::fma_chains_avx512, iterations));
    dot = std::min(dot, seconds_of(chains::dot_chains_avx512_bf16, iterations));
  }
  // FLOP rate ratio: a VDPBF16PS does twice an FMA's FLOP.
  return 2.0 * fma / dot;
}
#else
double measure_speedup() { return 0.0; }
#endif

}  // namespace

double cpu_bfloat16_dot_speedup() {
  static std::once_flag once;
  static double speedup = 0.0;
  std::call_once(once, [] { speedup = measure_speedup(); });
  return speedup;
}

}  // namespace recur
