// The machine's float32 FMA peak (and its bfloat16 dot-product peak): the ceiling for every GEMM and RNN number in bench/RESULTS.md.
//
//   fma_peak [--threads N] [--isa auto|avx512|avx2|avx512_bf16] [--repetitions R] [--seconds S] [--json]
//
// Each thread runs 12 independent chains of vector FMAs (a = a * m + c on 12 registers, the loops
// of backends/cpu/vector_chains.h), enough to cover the FMA latency on two FMA ports, with 512-bit
// vectors where the CPU has AVX-512F and 256-bit AVX2 + FMA otherwise. One repetition times all threads together (start together, stop
// when the last one is done) for about S seconds; the result is FLOP/s = threads x iterations x
// 12 x lanes x 2, and the program prints the median and the maximum over R repetitions.
// `--isa avx512_bf16` measures the bfloat16 dot-product peak instead: the same 12 chains of
// VDPBF16PS (a += x[2i] * y[2i] + x[2i+1] * y[2i+1] on 16 float32 lanes, 64 FLOP an instruction),
// the ceiling of a bfloat16 GEMM without AMX; its ratio to the float32 peak tells whether
// bfloat16 operands can pay on this CPU (`recur train --precision auto`).
// Needs no library: it measures the cores, not recur.
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "backends/cpu/vector_chains.h"

namespace {

constexpr int kChains = 12;
volatile float g_sink;  // keeps the chains' results alive

struct Isa {
  std::string name;
  int lanes = 0;     // float32 lanes of one instruction
  int products = 1;  // products a lane adds per instruction: 1 for an FMA, 2 for VDPBF16PS
  float (*run)(long, float) = nullptr;
};

Isa pick_isa(const std::string& wanted) {
#if defined(__x86_64__)
  using namespace recur::chains;
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512_bf16 = avx512 && __builtin_cpu_supports("avx512bf16");
  if (wanted == "avx512_bf16") return avx512_bf16 ? Isa{"avx512_bf16", 16, 2, dot_chains_avx512_bf16} : Isa{};
  if ((wanted == "auto" || wanted == "avx512") && avx512) return {"avx512", 16, 1, fma_chains_avx512};
  if ((wanted == "auto" || wanted == "avx2") && avx2) return {"avx2", 8, 1, fma_chains_avx2};
#endif
  (void)wanted;
  return {};
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// All threads start on one signal; the time is from the signal to the last thread's end.
// cpu_seconds: the longest CPU time of one thread (equal to the wall time on an idle machine).
double time_threads(const Isa& isa, int threads, long iterations, float& sink, double* cpu_seconds = nullptr) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<float> out(static_cast<size_t>(threads));
  std::vector<double> cpu(static_cast<size_t>(threads));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) {
      }
      const double c0 = thread_cpu_seconds();
      out[static_cast<size_t>(t)] = isa.run(iterations, static_cast<float>(t));
      cpu[static_cast<size_t>(t)] = thread_cpu_seconds() - c0;
    });
  }
  while (ready.load() < threads) {
  }
  const auto start = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  for (auto& th : pool) th.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (float v : out) sink += v;
  if (cpu_seconds) *cpu_seconds = *std::max_element(cpu.begin(), cpu.end());
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string wanted = "auto";
  int repetitions = 5;
  double seconds = 0.5;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fma_peak: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--threads") {
      threads = std::atoi(value().c_str());
    } else if (arg == "--isa") {
      wanted = value();
    } else if (arg == "--repetitions") {
      repetitions = std::atoi(value().c_str());
    } else if (arg == "--seconds") {
      seconds = std::atof(value().c_str());
    } else if (arg == "--json") {
      json = true;
    } else {
      std::fprintf(stderr,
                   "usage: fma_peak [--threads N] [--isa auto|avx512|avx2|avx512_bf16] [--repetitions R] "
                   "[--seconds S] [--json]\n");
      return arg == "--help" || arg == "-h" ? 0 : 2;
    }
  }
  if (threads < 1 || repetitions < 1 || !(seconds > 0)) {
    std::fprintf(stderr, "fma_peak: --threads, --repetitions and --seconds must be positive\n");
    return 2;
  }
  const Isa isa = pick_isa(wanted);
  if (!isa.run) {
    std::fprintf(stderr, "fma_peak: this CPU (or build) has no %s\n",
                 wanted == "auto" ? "AVX2 or AVX-512 FMA" : wanted.c_str());
    return 1;
  }
  const double flop_per_iteration = 4.0 * kChains * isa.lanes * isa.products * 2.0;
  float sink = 0;
  // Calibrate on one thread: iterations for about `seconds`.
  long iterations = 1 << 16;
  for (;;) {
    const double t = time_threads(isa, 1, iterations, sink);
    if (t > 0.05) {
      iterations = std::max(1L, static_cast<long>(static_cast<double>(iterations) * seconds / t));
      break;
    }
    iterations *= 4;
  }
  time_threads(isa, threads, iterations / 4 + 1, sink);  // warm-up: every thread's core up to speed
  std::vector<double> gflops, gflops_cpu;
  for (int r = 0; r < repetitions; ++r) {
    double cpu = 0;
    const double t = time_threads(isa, threads, iterations, sink, &cpu);
    const double flop = threads * static_cast<double>(iterations) * flop_per_iteration;
    gflops.push_back(flop / t * 1e-9);
    gflops_cpu.push_back(flop / cpu * 1e-9);
  }
  auto median_of = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  };
  const double median = median_of(gflops);
  const double best = *std::max_element(gflops.begin(), gflops.end());
  const double median_cpu = median_of(gflops_cpu);
  if (json) {
    std::printf(
        "{\"isa\": \"%s\", \"threads\": %d, \"chains\": %d, \"repetitions\": %d, \"gflops_median\": %.1f, "
        "\"gflops_max\": %.1f, \"gflops_per_thread\": %.1f, \"gflops_cpu_time\": %.1f}\n",
        isa.name.c_str(), threads, kChains, repetitions, median, best, median / threads, median_cpu);
  } else {
    std::printf(
        "%s peak: %.1f GFLOP/s median, %.1f max (%s, %d x %d-lane %s chains per thread, %d threads, "
        "%d repetitions of %.2f s; %.1f GFLOP/s per thread)\n"
        "          %.1f GFLOP/s on the threads' own CPU time (the peak when no other process takes the cores)\n",
        isa.products == 2 ? "bf16 dot-product" : "FMA", median, best, isa.name.c_str(), kChains, isa.lanes,
        isa.products == 2 ? "VDPBF16PS" : "FMA", threads, repetitions, seconds, median / threads, median_cpu);
  }
  g_sink = sink;
  return 0;
}
