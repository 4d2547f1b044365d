// Micro-benchmarks of the recurrent layer at the reference language-model shape (LSTM,
// I = 64, H = 256, B = 32, T = 64): the cell step, one fused layer forward and forward+backward,
// the GEMM shapes involved, and the SGEMM peak measured in the same run, all in GFLOP/s.
//
//   build/release/bench/bench_rnn --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "backends/cpu/gemm.h"  // gemm_raw: the provider itself is measured
#include "backends/threading.h"
#include "nn/rnn.h"
#include "nn/rnn_cells.h"

namespace {

using namespace recur;

constexpr int64_t kInput = 64, kHidden = 256, kBatch = 32, kSteps = 64;

void set_flops(benchmark::State& state, double flops_per_iteration) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops_per_iteration, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
  state.counters["GFLOP/s"].value /= 1e9;
}

// C[M, N] = A[M, K] B[K, N] through the provider in use (row-major, no transposes).
void BM_Sgemm(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  std::vector<float> a(m * k, 0.5f), b(k * n, 0.25f), c(m * n);
  for (auto _ : state) {
    cpu::gemm_raw<float>(Transpose::No, Transpose::No, m, n, k, 1.f, a.data(), k, b.data(), n, 0.f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  set_flops(state, 2.0 * m * n * k);
  state.SetLabel(gemm_provider_name());
}
// The peak (a large square GEMM) and the shapes of the train step: the recurrent step
// [B, R] x [R, 4H], the input projection [T*B, I] x [I, 4H] and the weight gradient
// [4H, T*B] x [T*B, R].
BENCHMARK(BM_Sgemm)
    ->Args({1024, 1024, 1024})
    ->Args({kBatch, 4 * kHidden, kHidden})
    ->Args({kSteps * kBatch, 4 * kHidden, kInput})
    ->Args({4 * kHidden, kHidden, kSteps* kBatch})
    ->Unit(benchmark::kMicrosecond);

// One LSTMCell step on the cell graph (autograd ops).
void BM_LstmCellStep(benchmark::State& state) {
  nn::LSTMCell cell(kInput, kHidden);
  Tensor x = randn({kBatch, kInput});
  nn::CellState s = cell.zero_state(kBatch);
  NoGradGuard no_grad;
  for (auto _ : state) {
    nn::CellState next = cell.forward(x, s);
    benchmark::DoNotOptimize(next.h.raw_data());
  }
  set_flops(state, 2.0 * kBatch * 4 * kHidden * (kInput + kHidden));
}
BENCHMARK(BM_LstmCellStep)->Unit(benchmark::kMicrosecond);

// `layers` stacked LSTM layers (I = 64 into H = 256, then H into H) over T steps on x
// [T, B, I], forward only or forward + backward (with the input's gradient when x requires it).
void run_lstm(benchmark::State& state, int64_t layers, nn::RNNImpl impl, const Tensor& x, bool backward) {
  nn::RNNOptions o;
  o.mode = nn::RNNMode::LSTM;
  o.input_size = kInput;
  o.hidden_size = kHidden;
  o.num_layers = layers;
  nn::RNN rnn(o);
  rnn.set_implementation(impl);
  for (auto _ : state) {
    if (backward) {
      auto [y, s] = rnn.forward(x);
      sum(y).backward();
    } else {
      NoGradGuard no_grad;
      auto [y, s] = rnn.forward(x);
      benchmark::DoNotOptimize(y.raw_data());
    }
  }
  const double forward = 2.0 * kSteps * kBatch * 4 * kHidden * ((kInput + kHidden) + (layers - 1) * 2.0 * kHidden);
  set_flops(state, backward ? 3.0 * forward : forward);
}

// One LSTM layer over T steps: forward only (range 0) or forward + backward (range 1), on the
// fused path (impl 1) or the cell graph (impl 0).
void BM_LstmLayer(benchmark::State& state) {
  const bool backward = state.range(0) == 1, fused = state.range(1) == 1;
  run_lstm(state, 1, fused ? nn::RNNImpl::Fused : nn::RNNImpl::Cells, randn({kSteps, kBatch, kInput}), backward);
  state.SetLabel(fused ? "fused" : "cells");
}
BENCHMARK(BM_LstmLayer)->ArgsProduct({{0, 1}, {0, 1}})->Unit(benchmark::kMillisecond);

// The reference model's two stacked fused layers, forward (range 0) or forward + backward with
// the input's gradient (range 1): what bench_onednn_lstm's BM_OnednnLstm2Layers computes with
// oneDNN's LSTM primitives.
void BM_LstmTwoLayers(benchmark::State& state) {
  const bool backward = state.range(0) == 1;
  Tensor x = randn({kSteps, kBatch, kInput});
  x.requires_grad_(backward);
  run_lstm(state, 2, nn::RNNImpl::Fused, x, backward);
  state.SetLabel("fused, 2 layers");
}
BENCHMARK(BM_LstmTwoLayers)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  recur::set_num_threads(0);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
