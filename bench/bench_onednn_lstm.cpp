// The ceiling for recur's CPU RNN: oneDNN's own LSTM primitives (forward training + backward)
// at the reference language-model shape (2 layers, I = 64, H = 256, B = 32, T = 64, float32),
// timed like recur's fused layer in bench_rnn. Built only when oneDNN is found.
//
//   build/release/bench/bench_onednn_lstm
#include <benchmark/benchmark.h>

#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

#include "backends/threading.h"

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

constexpr int64_t kInput = 64, kHidden = 256, kBatch = 32, kSteps = 64, kGates = 4;

// One layer (unidirectional, left to right) with its forward and backward primitives and
// every buffer allocated once.
struct Layer {
  Layer(dnnl::engine& engine, int64_t input) {
    const memory::dims src{kSteps, kBatch, input}, dst{kSteps, kBatch, kHidden};
    const memory::dims state{1, 1, kBatch, kHidden};
    const memory::dims w_layer{1, 1, input, kGates, kHidden}, w_iter{1, 1, kHidden, kGates, kHidden};
    const memory::dims bias{1, 1, kGates, kHidden};
    auto md = [](const memory::dims& d, tag t) { return memory::desc(d, dt::f32, t); };
    const memory::desc src_md = md(src, tag::tnc), dst_md = md(dst, tag::tnc), state_md = md(state, tag::ldnc);
    const memory::desc bias_md = md(bias, tag::ldgo);
    const memory::desc w_layer_any = md(w_layer, tag::any), w_iter_any = md(w_iter, tag::any);
    dnnl::lstm_forward::desc fwd_desc(dnnl::prop_kind::forward_training, dnnl::rnn_direction::unidirectional_left2right,
                                      src_md, state_md, state_md, w_layer_any, w_iter_any, bias_md, dst_md, state_md,
                                      state_md);
    fwd_pd = dnnl::lstm_forward::primitive_desc(fwd_desc, engine);
    dnnl::lstm_backward::desc bwd_desc(dnnl::prop_kind::backward, dnnl::rnn_direction::unidirectional_left2right,
                                       src_md, state_md, state_md, w_layer_any, w_iter_any, bias_md, dst_md, state_md,
                                       state_md, src_md, state_md, state_md, w_layer_any, w_iter_any, bias_md, dst_md,
                                       state_md, state_md);
    bwd_pd = dnnl::lstm_backward::primitive_desc(bwd_desc, engine, fwd_pd);
    forward = dnnl::lstm_forward(fwd_pd);
    backward = dnnl::lstm_backward(bwd_pd);
    auto make = [&](const memory::desc& d, float value) {
      memory m(d, engine);
      float* p = static_cast<float*>(m.get_data_handle());
      for (size_t i = 0; i < d.get_size() / sizeof(float); ++i)
        p[i] = value * static_cast<float>((i * 7919) % 13) / 13.f;
      return m;
    };
    x = make(src_md, 1.f);
    h0 = make(state_md, 0.f), c0 = make(state_md, 0.f);
    weights_layer = make(fwd_pd.weights_layer_desc(), 0.05f);
    weights_iter = make(fwd_pd.weights_iter_desc(), 0.05f);
    bwd_weights_layer = make(bwd_pd.weights_layer_desc(), 0.05f);
    bwd_weights_iter = make(bwd_pd.weights_iter_desc(), 0.05f);
    b = make(bias_md, 0.1f);
    y = make(dst_md, 0.f), hn = make(state_md, 0.f), cn = make(state_md, 0.f);
    workspace = make(fwd_pd.workspace_desc(), 0.f);
    dx = make(src_md, 0.f), dh0 = make(state_md, 0.f), dc0 = make(state_md, 0.f);
    dw_layer = make(bwd_pd.diff_weights_layer_desc(), 0.f), dw_iter = make(bwd_pd.diff_weights_iter_desc(), 0.f);
    db = make(bias_md, 0.f);
    dy = make(dst_md, 1.f), dhn = make(state_md, 0.f), dcn = make(state_md, 0.f);
  }
  void run_forward(dnnl::stream& s) {
    forward.execute(s, {{DNNL_ARG_SRC_LAYER, x},
                        {DNNL_ARG_SRC_ITER, h0},
                        {DNNL_ARG_SRC_ITER_C, c0},
                        {DNNL_ARG_WEIGHTS_LAYER, weights_layer},
                        {DNNL_ARG_WEIGHTS_ITER, weights_iter},
                        {DNNL_ARG_BIAS, b},
                        {DNNL_ARG_DST_LAYER, y},
                        {DNNL_ARG_DST_ITER, hn},
                        {DNNL_ARG_DST_ITER_C, cn},
                        {DNNL_ARG_WORKSPACE, workspace}});
  }
  void run_backward(dnnl::stream& s) {
    backward.execute(s, {{DNNL_ARG_SRC_LAYER, x},
                         {DNNL_ARG_SRC_ITER, h0},
                         {DNNL_ARG_SRC_ITER_C, c0},
                         {DNNL_ARG_WEIGHTS_LAYER, bwd_weights_layer},
                         {DNNL_ARG_WEIGHTS_ITER, bwd_weights_iter},
                         {DNNL_ARG_BIAS, b},
                         {DNNL_ARG_DST_LAYER, y},
                         {DNNL_ARG_DST_ITER, hn},
                         {DNNL_ARG_DST_ITER_C, cn},
                         {DNNL_ARG_WORKSPACE, workspace},
                         {DNNL_ARG_DIFF_SRC_LAYER, dx},
                         {DNNL_ARG_DIFF_SRC_ITER, dh0},
                         {DNNL_ARG_DIFF_SRC_ITER_C, dc0},
                         {DNNL_ARG_DIFF_WEIGHTS_LAYER, dw_layer},
                         {DNNL_ARG_DIFF_WEIGHTS_ITER, dw_iter},
                         {DNNL_ARG_DIFF_BIAS, db},
                         {DNNL_ARG_DIFF_DST_LAYER, dy},
                         {DNNL_ARG_DIFF_DST_ITER, dhn},
                         {DNNL_ARG_DIFF_DST_ITER_C, dcn}});
  }

  dnnl::lstm_forward::primitive_desc fwd_pd;
  dnnl::lstm_backward::primitive_desc bwd_pd;
  dnnl::lstm_forward forward;
  dnnl::lstm_backward backward;
  memory x, h0, c0, weights_layer, weights_iter, bwd_weights_layer, bwd_weights_iter, b, y, hn, cn, workspace;
  memory dx, dh0, dc0, dw_layer, dw_iter, db, dy, dhn, dcn;
};

void set_flops(benchmark::State& state, double flops) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

// Two stacked layers, forward (range 0) or forward + backward (range 1).
void BM_OnednnLstm2Layers(benchmark::State& state) {
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  Layer first(engine, kInput), second(engine, kHidden);
  const bool backward = state.range(0) == 1;
  for (auto _ : state) {
    first.run_forward(stream);
    second.run_forward(stream);
    if (backward) {
      second.run_backward(stream);
      first.run_backward(stream);
    }
    stream.wait();
  }
  const double forward = 2.0 * kSteps * kBatch * kGates * kHidden * ((kInput + kHidden) + (kHidden + kHidden));
  set_flops(state, backward ? 3.0 * forward : forward);
}
BENCHMARK(BM_OnednnLstm2Layers)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  recur::set_num_threads(0);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
