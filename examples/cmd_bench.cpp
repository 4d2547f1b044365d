// recur bench train-step: the throughput of one language-model training step,
//   Embedding(vocab, input_size) -> RNN -> Linear(H, vocab) -> cross-entropy -> backward -> Adam
// on random tokens, timed after warm-up; prints the median ms per step and tokens/s (or one
// JSON object with --json). With --vocab-size 0 the RNN alone (DeepBench's shapes): a random input
// [T, B, I], loss = sum(Y * G) for a fixed random G, Adam on the RNN's weights.
// Each step ends with loss.item(), which waits for the device, so a step's wall-clock time is
// its device time plus whatever launch overhead the device could not hide.
// bench/compare_pytorch.py and bench/compare_pytorch_gpu.py run the same steps in PyTorch.
// --profile adds where a step goes: each primitive's time per step and share (backends/profile.h).
// Under mpirun -np N (docs/DISTRIBUTED.md) --batch is the global batch: each rank runs B / N
// streams of its own random tokens and the gradients are averaged (nn::DataParallel) before Adam;
// rank 0 prints, with the all-reduce's median time per step and its share of the step.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>

#include "autograd/ops.h"
#include "backends/distributed.h"
#include "backends/profile.h"
#include "backends/settings.h"
#include "examples/command.h"
#include "examples/lm/data_parallel_run.h"
#include "nn/data_parallel.h"
#include "nn/layers.h"
#include "nn/losses.h"
#include "nn/rnn.h"
#include "optim/adam.h"
#include "recur/config.h"

namespace recur::cli {

namespace {

struct TrainStepOptions {
  std::string mode = "lstm", device = "cpu", impl = "auto", dtype = "float32", precision = "f32";
  int64_t input_size = 64, hidden = 256, layers = 2, batch = 32, seq = 64, vocab = 65, proj = 0;
  double dropout_h = 0.0, wdrop = 0.0;  // AWD-LSTM's dropout between layers and on W_hh
  int steps = 20, warmup = 3;
  bool json = false, allow_tf32 = false, profile = false;
};

// The profile's rows per step, with the time outside every primitive as the last row.
struct ProfileLine {
  std::string phase, op;
  double calls, ms, share;
};
std::vector<ProfileLine> profile_lines(double mean_ms, int steps) {
  std::vector<ProfileLine> lines;
  double inside = 0.0;
  for (const profile::Row& row : profile::rows()) {
    const double ms = row.seconds * 1000.0 / steps;
    inside += ms;
    lines.push_back({row.phase, row.op, static_cast<double>(row.calls) / steps, ms, ms / mean_ms});
  }
  const double outside = std::max(0.0, mean_ms - inside);
  lines.push_back({"step", "outside the primitives", 0.0, outside, outside / mean_ms});
  return lines;
}

void print_profile(double mean_ms, int steps) {
  fmt::print("  where a step goes (mean {:.2f} ms, each primitive timed to its end):\n", mean_ms);
  fmt::print("  {:<10} {:<28} {:>9} {:>10} {:>7}\n", "phase", "op", "calls", "ms/step", "share");
  for (const ProfileLine& line : profile_lines(mean_ms, steps)) {
    fmt::print("  {:<10} {:<28} {:>9.1f} {:>10.3f} {:>6.1f}%\n", line.phase, line.op, line.calls, line.ms,
               100.0 * line.share);
  }
}

nlohmann::json profile_json(double mean_ms, int steps) {
  nlohmann::json rows = nlohmann::json::array();
  for (const ProfileLine& line : profile_lines(mean_ms, steps)) {
    rows.push_back({{"phase", line.phase},
                    {"op", line.op},
                    {"calls_per_step", line.calls},
                    {"ms_per_step", line.ms},
                    {"share", line.share}});
  }
  return rows;
}

int run_train_step(const TrainStepOptions& o) {
  const Device device = Device::parse(o.device);
  RECUR_CHECK(o.dtype == "float32" || o.dtype == "float64", "bench: --dtype must be float32 or float64, got '{}'",
              o.dtype);
  const DType dtype = o.dtype == "float64" ? DType::Float64 : DType::Float32;
  RECUR_CHECK(o.precision != "bf16" || (dtype == DType::Float32 && device.is_cpu()),
              "bench: --precision bf16 rounds the operands of the CPU's float32 GEMMs, but the step runs in {} on {}",
              o.dtype, device);
  if (device.is_cpu()) {
    const CpuGemmPrecisionChoice precision = choose_cpu_gemm_precision(o.precision);
    set_cpu_gemm_precision(precision.precision);
    if (o.precision == "auto") fmt::print(stderr, "CPU GEMM operands: {}\n", precision.reason);
  }
  std::string device_name = "cpu";
  if (device.is_cuda()) {
    set_allow_tf32(device, o.allow_tf32);  // throws, with the reason, when the device is not visible
    device_name = device_description(device);
  }
  const bool lm = o.vocab > 0;  // else the RNN alone
  Generator init(1);
  nn::EmbeddingOptions eo;
  eo.generator = &init;
  nn::Embedding embedding(std::max<int64_t>(o.vocab, 1), o.input_size, eo);
  nn::RNNOptions ro;
  ro.mode = nn::parse_mode(o.mode);
  ro.input_size = o.input_size;
  ro.hidden_size = o.hidden;
  ro.num_layers = o.layers;
  ro.proj_size = o.proj;
  ro.variational_dropout = o.dropout_h;
  ro.weight_dropout = o.wdrop;
  nn::RNN rnn(ro, &init);
  rnn.set_implementation(nn::parse_impl(o.impl));
  nn::LinearOptions lo;
  lo.generator = &init;
  nn::Linear head(ro.output_hidden_size(), std::max<int64_t>(o.vocab, 1), lo);
  std::vector<nn::Module*> modules{&rnn};
  if (lm) modules = {&embedding, &rnn, &head};
  for (nn::Module* m : modules) {
    m->to(dtype);
    m->to(device);
  }
  std::vector<Tensor> params;
  for (nn::Module* m : modules) {
    for (const Tensor& p : m->parameters()) params.push_back(p);
  }
  optim::AdamOptions ao;
  ao.lr = 2e-3;
  optim::Adam adam(params, ao);

  distributed::ProcessGroup& group = distributed::world();  // one process unless under mpirun
  lm::check_batch_divides(o.batch, group.size());
  const int64_t batch = o.batch / group.size();  // this rank's streams
  std::unique_ptr<nn::DataParallel> parallel;
  if (group.size() > 1) {
    parallel = std::make_unique<nn::DataParallel>(group, params);
    parallel->broadcast_parameters();
  }
  Generator data(2 + static_cast<uint64_t>(group.rank()));
  const TensorOptions index = TensorOptions{}.with_dtype(DType::Int64);
  auto tokens = [&] {
    Tensor u = rand({o.seq, batch}, TensorOptions{}.with_dtype(DType::Float64), &data, 0.0, double(o.vocab));
    std::vector<int64_t> ids;
    for (double v : u.to_vector<double>()) ids.push_back(std::min<int64_t>(static_cast<int64_t>(v), o.vocab - 1));
    return from_vector<int64_t>(ids, {o.seq, batch}, index).to(device);
  };
  Tensor inputs, targets, features, weigh;
  if (lm) {
    inputs = tokens();
    targets = tokens();
  } else {
    const TensorOptions like = TensorOptions{}.with_dtype(dtype);
    features = randn({o.seq, batch, o.input_size}, like, &data).to(device);
    weigh = randn({o.seq, batch, ro.num_directions() * ro.output_hidden_size()}, like, &data).to(device);
  }

  std::vector<double> times, reduce_times;
  double last_loss = 0.0;
  for (int i = 0; i < o.warmup + o.steps; ++i) {
    if (o.profile && i == o.warmup) profile::start();  // the timed steps only
    const auto start = std::chrono::steady_clock::now();
    Tensor loss;
    {
      profile::Phase phase("forward");
      if (lm) {
        auto [y, state] = rnn.forward(embedding(inputs));
        loss = nn::cross_entropy(head.forward(y), targets);
      } else {
        auto [y, state] = rnn.forward(features);
        loss = sum(y * weigh);
      }
    }
    {
      profile::Phase phase("backward");
      loss.backward();
    }
    const double reduced_before = parallel ? parallel->all_reduce_seconds() : 0.0;
    if (parallel) parallel->average_gradients();  // MPI's time: outside the primitives
    {
      profile::Phase phase("optimizer");
      adam.step();
      adam.zero_grad();
    }
    last_loss = loss.item();  // synchronises
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (i >= o.warmup) {
      times.push_back(ms);
      if (parallel) reduce_times.push_back(1000.0 * (parallel->all_reduce_seconds() - reduced_before));
    }
  }
  if (group.rank() != 0) return 0;
  double reduce_ms = 0.0;
  if (!reduce_times.empty()) {
    std::sort(reduce_times.begin(), reduce_times.end());
    reduce_ms = reduce_times[reduce_times.size() / 2];
  }
  profile::stop();
  const double mean_ms = std::accumulate(times.begin(), times.end(), 0.0) / static_cast<double>(times.size());
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  const double tokens_per_s = static_cast<double>(o.batch * o.seq) / (median / 1000.0);
  // Forward and backward FLOPs of the RNN's GEMMs and the head (2 per multiply-add, x3 for
  // forward + two backward GEMMs).
  const double gates = static_cast<double>(ro.gates() * o.hidden), rec = static_cast<double>(ro.output_hidden_size());
  double flops = 0.0;
  for (int64_t l = 0; l < o.layers; ++l) {
    const double in = l == 0 ? static_cast<double>(o.input_size) : rec;
    flops += 2.0 * gates * (in + rec) + (o.proj > 0 ? 2.0 * o.hidden * rec : 0.0);
  }
  flops += 2.0 * rec * static_cast<double>(o.vocab);  // the head (0 without one)
  flops *= 3.0 * static_cast<double>(o.batch * o.seq);
  const double gflops = flops / (median / 1000.0) / 1e9;
  if (o.json) {
    nlohmann::json j = {{"benchmark", "train-step"},
                        {"mode", o.mode},
                        {"input_size", o.input_size},
                        {"hidden", o.hidden},
                        {"layers", o.layers},
                        {"batch", o.batch},
                        {"seq", o.seq},
                        {"vocab", o.vocab},
                        {"proj", o.proj},
                        {"dropout_h", o.dropout_h},
                        {"wdrop", o.wdrop},
                        {"dtype", o.dtype},
                        {"device", device.str()},
                        {"device_name", device_name},
                        {"allow_tf32", o.allow_tf32},
                        {"threads", get_num_threads()},
                        {"impl", nn::impl_name(rnn.implementation())},
                        {"gemm", gemm_provider_name()},
                        {"precision", cpu_gemm_precision_name(cpu_gemm_precision())},
                        {"steps", o.steps},
                        {"ms_per_step", median},
                        {"ms_min", times.front()},
                        {"tokens_per_s", tokens_per_s},
                        {"gflop_per_step", flops / 1e9},
                        {"gflops", gflops},
                        {"loss", last_loss},
                        {"processes", group.size()},
                        {"all_reduce_ms", reduce_ms}};
    if (o.profile) j["profile"] = profile_json(mean_ms, o.steps);
    fmt::print("{}\n", j.dump());
  } else {
    fmt::print("train-step {} I={} H={} L={} B={} T={} V={} on {} ({} threads, {} RNN, {} GEMM, {} operands)\n", o.mode,
               o.input_size, o.hidden, o.layers, o.batch, o.seq, o.vocab, device, get_num_threads(),
               nn::impl_name(rnn.implementation()), gemm_provider_name(),
               cpu_gemm_precision_name(cpu_gemm_precision()));
    fmt::print("  median {:.2f} ms/step (min {:.2f}), {:.0f} tokens/s, {:.1f} GFLOP/s ({:.2f} GFLOP/step)\n", median,
               times.front(), tokens_per_s, gflops, flops / 1e9);
    if (parallel) {
      fmt::print("  {} processes of {} streams: gradient all-reduce median {:.3f} ms/step ({:.1f}% of the step)\n",
                 group.size(), batch, reduce_ms, 100.0 * reduce_ms / median);
    }
    if (o.profile) print_profile(mean_ms, o.steps);
  }
  return 0;
}

}  // namespace

Command add_bench_command(CLI::App& parent) {
  auto options = std::make_shared<TrainStepOptions>();
  CLI::App* app = parent.add_subcommand("bench", "Benchmarks");
  app->require_subcommand(1);
  CLI::App* step = app->add_subcommand("train-step", "Time a language-model training step");
  step->add_option("--mode", options->mode, "lstm, gru, rnn_tanh or rnn_relu")
      ->check(CLI::IsMember({"lstm", "gru", "rnn_tanh", "rnn_relu"}));
  step->add_option("--embedding", options->input_size, "the RNN's input size (the embedding size)")
      ->check(CLI::PositiveNumber);
  step->add_option("--hidden", options->hidden, "hidden size")->check(CLI::PositiveNumber);
  step->add_option("--layers", options->layers, "RNN layers")->check(CLI::PositiveNumber);
  step->add_option("--proj", options->proj, "LSTM projection size (0 = none)")->check(CLI::NonNegativeNumber);
  step->add_option("--dropout-h", options->dropout_h, "locked dropout between RNN layers (AWD-LSTM's dropout_h)");
  step->add_option("--wdrop", options->wdrop, "weight dropout on every W_hh (AWD-LSTM's wdrop)");
  step->add_option("--batch", options->batch, "parallel streams B")->check(CLI::PositiveNumber);
  step->add_option("--bptt", options->seq, "sequence length T (time steps)")->check(CLI::PositiveNumber);
  step->add_option("--vocab-size", options->vocab, "vocabulary size (0 = the RNN alone: no embedding, head or loss)")
      ->check(CLI::NonNegativeNumber);
  step->add_option("--dtype", options->dtype, "float32 or float64")->check(CLI::IsMember({"float32", "float64"}));
  step->add_flag("--allow-tf32", options->allow_tf32, "let float32 GEMMs on a GPU use TF32 (off by default)");
  step->add_option("--precision", options->precision,
                   "the CPU GEMMs' operands: f32, bf16 (bfloat16, float32 accumulation) or auto (bf16 with AMX)")
      ->check(CLI::IsMember({"f32", "bf16", "auto"}));
  step->add_option("--device", options->device, "cpu or cuda[:N]");
  step->add_option("--impl", options->impl, "RNN implementation: auto, cells or fused")
      ->check(CLI::IsMember({"auto", "cells", "fused"}));
  step->add_option("--steps", options->steps, "timed steps")->check(CLI::PositiveNumber);
  step->add_option("--untimed-steps", options->warmup, "steps run first, not timed")->check(CLI::NonNegativeNumber);
  step->add_flag("--json", options->json, "print one JSON object");
  step->add_flag("--profile", options->profile,
                 "time every primitive of the timed steps and print where a step goes, op by op (each primitive "
                 "waits for its device, so a GPU step gets slower)");
  return {app, [options] { return run_train_step(*options); }};
}

}  // namespace recur::cli
