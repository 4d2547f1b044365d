// SGEMM through recur::compute::matmul: C [M, N] = A [M, K] @ B [K, N], float32, on the CPU.
//
// M = rows of A and C (batch size in an RNN's input projection), K = inner size, N = columns of
// B and C (4 x hidden size for an LSTM's gates). Each shape's result is checked against a plain
// double-precision dot product before it is timed; the timed call includes allocating C, as
// every caller of compute::matmul pays it. The peer is OpenBLAS's cblas_sgemm called directly on
// the same data in the same run. Five repetitions; read the median.
//
// BM_WeightGradient: C [M, N] = A^T B, the shape of a weight gradient (dW = dG^T X, M = 4 x
// hidden, K = T x B rows), through recur's CPU backend with A stored transposed ([M, K], as the
// fused RNN layer's backward stores dG^T) and with A stored as it comes ([K, M], a transposed
// operand), and OpenBLAS's cblas_sgemm on the transposed operand.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "backends/backend.h"
#include "backends/compute.h"
#include "backends/threading.h"
#include "core/tensor.h"

namespace {

using recur::Tensor;

// Largest error of C = A @ B over a few sampled elements, relative to sum_k |A[i, k] B[k, j]|.
double sampled_error(const Tensor& c, const Tensor& a, const Tensor& b) {
  const int64_t rows = a.size(0), inner = a.size(1), cols = b.size(1);
  const float* a_data = a.data<float>();
  const float* b_data = b.data<float>();
  const float* c_data = c.data<float>();
  double worst = 0.0;
  for (int64_t sample = 0; sample < 16; ++sample) {
    const int64_t i = (sample * 7919) % rows, j = (sample * 104729) % cols;
    double exact = 0.0, scale = 0.0;
    for (int64_t k = 0; k < inner; ++k) {
      exact += static_cast<double>(a_data[i * inner + k]) * b_data[k * cols + j];
      scale += std::abs(static_cast<double>(a_data[i * inner + k]) * b_data[k * cols + j]);
    }
    worst = std::max(worst, std::abs(c_data[i * cols + j] - exact) / std::max(scale, 1e-30));
  }
  return worst;
}

void set_counters(benchmark::State& state, int64_t rows, int64_t inner, int64_t cols) {
  const double flops = 2.0 * static_cast<double>(rows) * static_cast<double>(inner) * static_cast<double>(cols);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  state.counters["threads"] = recur::get_num_threads();
}

void BM_Sgemm(benchmark::State& state) {
  const int64_t rows = state.range(0), inner = state.range(1), cols = state.range(2);
  recur::Generator generator(1);
  const Tensor a = recur::randn({rows, inner}, {}, &generator);
  const Tensor b = recur::randn({inner, cols}, {}, &generator);

  const Tensor check = recur::compute::matmul(a, b);
  const double error = sampled_error(check, a, b);
  if (error > 1e-4) {
    state.SkipWithError(("matmul differs from the reference: relative error " + std::to_string(error)).c_str());
    return;
  }

  for (auto _ : state) {
    Tensor c = recur::compute::matmul(a, b);
    benchmark::DoNotOptimize(c.raw_data());
    benchmark::ClobberMemory();
  }
  set_counters(state, rows, inner, cols);
}

// The peer: cblas_sgemm straight into a preallocated C.
void BM_OpenblasSgemm(benchmark::State& state) {
  const int64_t rows = state.range(0), inner = state.range(1), cols = state.range(2);
  recur::Generator generator(1);
  const Tensor a = recur::randn({rows, inner}, {}, &generator);
  const Tensor b = recur::randn({inner, cols}, {}, &generator);
  const Tensor c = recur::zeros({rows, cols});
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), static_cast<int>(cols),
                static_cast<int>(inner), 1.0f, a.data<float>(), static_cast<int>(inner), b.data<float>(),
                static_cast<int>(cols), 0.0f, c.data<float>(), static_cast<int>(cols));
    benchmark::ClobberMemory();
  }
  set_counters(state, rows, inner, cols);
}

// {M, K, N}: RNN-sized products (batch x hidden -> gates), then a square one.
void gemm_shapes(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"M", "K", "N"})
      ->Args({32, 256, 1024})
      ->Args({64, 512, 2048})
      ->Args({128, 1024, 4096})
      ->Args({1024, 1024, 1024})
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime()
      ->Repetitions(5)
      ->ReportAggregatesOnly(true);
}
BENCHMARK(BM_Sgemm)->Apply(gemm_shapes);
BENCHMARK(BM_OpenblasSgemm)->Apply(gemm_shapes);

// who 0: recur, A stored transposed ([M, K]); 1: recur, A [K, M] as a transposed operand;
// 2: OpenBLAS's cblas_sgemm on A [K, M].
void BM_WeightGradient(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2), who = state.range(3);
  recur::Generator generator(1);
  const Tensor a = recur::randn(who == 0 ? recur::Shape{m, k} : recur::Shape{k, m}, {}, &generator);
  const Tensor b = recur::randn({k, n}, {}, &generator);
  Tensor c = recur::zeros({m, n});
  recur::Backend& cpu = recur::backend_for(recur::Device::cpu());
  for (auto _ : state) {
    if (who < 2) {
      cpu.gemm(c, a, who == 0 ? recur::Transpose::No : recur::Transpose::Yes, b, recur::Transpose::No, 1.0, 0.0);
    } else {
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
                  static_cast<int>(k), 1.0f, a.data<float>(), static_cast<int>(m), b.data<float>(), static_cast<int>(n),
                  0.0f, static_cast<float*>(c.raw_data()), static_cast<int>(n));
    }
    benchmark::ClobberMemory();
  }
  set_counters(state, m, k, n);
  state.SetLabel(who == 0 ? "recur, A^T stored" : who == 1 ? "recur, A transposed" : "openblas, A transposed");
}
// {M, N, K, who}: the reference step's dW_hh (and layer 1's dW_ih), layer 0's dW_ih.
BENCHMARK(BM_WeightGradient)
    ->ArgNames({"M", "N", "K", "who"})
    ->ArgsProduct({{1024}, {256, 64}, {2048}, {0, 1, 2}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime()
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);

}  // namespace

BENCHMARK_MAIN();
