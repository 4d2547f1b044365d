// recur bench train-step: the throughput of `recur train`'s own step (examples/lm/train_step.h),
//   Embedding(vocab, E) -> RNN -> head -> cross-entropy -> backward -> clip -> optimizer
// built from the options of `recur train` (the model, AWD-LSTM's regularizers, the batch, the
// optimizer, --clip: the same names and defaults, cmd_train.cpp's add_step_options) on random
// tokens of a vocabulary of --vocab-size symbols, timed after --untimed-steps; prints the median
// ms per step and tokens/s (or one JSON object with --json). As in training, each step starts from
// the state the last one carried; the learning rate is --lr (or the optimizer's), constant, scaled
// by length / --bptt with --bptt-jitter (the schedule is the trainer's, outside the step). With
// --optimizer ntasgd the steps are plain SGD, as before NT-ASGD's trigger (which needs
// evaluations), or with --ntasgd-averaging SGD steps that average the weights, as after it.
// With --vocab-size 0 the RNN alone (DeepBench's shapes): a random input [T, B, E],
// loss = sum(Y * G) for a fixed random G, the optimizer on the RNN's weights, no clipping.
// Each step ends by waiting for the device, so a step's wall-clock time is its device time plus
// whatever launch overhead the device could not hide.
// bench/compare_pytorch.py and bench/compare_pytorch_gpu.py run the same steps in PyTorch (Adam,
// without clipping: compare with --clip 0).
// --profile adds where a step goes: each primitive's time per step and share (backends/profile.h).
// Under mpirun -np N (docs/DISTRIBUTED.md) --batch is the global batch: each rank runs B / N
// streams of its own random tokens and the gradients are averaged (nn::DataParallel), as in
// training; rank 0 prints, with the all-reduce's median time per step and its share of the step.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>

#include "autograd/ops.h"
#include "backends/backend.h"
#include "backends/distributed.h"
#include "backends/profile.h"
#include "backends/settings.h"
#include "examples/command.h"
#include "examples/lm/data_parallel_run.h"
#include "examples/lm/train_options.h"
#include "examples/lm/trainer.h"
#include "nn/data_parallel.h"
#include "optim/asgd.h"
#include "recur/config.h"

namespace recur::cli {

namespace {

struct TrainStepOptions {
  lm::TrainOptions train;  // the step's: add_step_options (cmd_train.cpp)
  int64_t vocab = 65;      // --vocab-size: random tokens of this many symbols (0 = the RNN alone)
  int steps = 20, warmup = 3;
  bool json = false, profile = false, ntasgd_averaging = false;
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

// The options --vocab-size 0 leaves without a meaning: those of the embedding and the head.
void check_rnn_alone(const lm::TrainOptions& o) {
  RECUR_CHECK(o.dropout_e == 0.0 && o.dropout_i == 0.0 && o.dropout_o == 0.0 && o.ar == 0.0 && o.tar == 0.0 &&
                  o.dropout == 0.0 && !o.tie_weights,
              "bench: --vocab-size 0 times the RNN alone, without embedding or head, but --dropout, --dropout-e, "
              "--dropout-i, --dropout-o, --ar, --tar or --tie-weights was given: give a --vocab-size >= 1");
}

int run_train_step(const TrainStepOptions& bench) {
  lm::TrainOptions o = bench.train;
  const Device requested = Device::parse(o.device);
  RECUR_CHECK(o.precision != "bf16" || (o.dtype == "float32" && requested.is_cpu()),
              "bench: --precision bf16 rounds the operands of the CPU's float32 GEMMs, but the step runs in {} on {}",
              o.dtype, requested);
  o.steps = bench.warmup + bench.steps;  // the run's length, for the checks of `recur train`
  o.validate();
  o.fill_defaults();
  RECUR_CHECK(!bench.ntasgd_averaging || o.optimizer_kind() == lm::OptimizerKind::NTASGD,
              "bench: --ntasgd-averaging averages NT-ASGD's weights, but --optimizer is {}", o.optimizer);
  const bool language_model = bench.vocab > 0;  // else the RNN alone
  if (!language_model) {
    check_rnn_alone(o);
    o.clip = 0.0;  // its step clips nothing
  }

  distributed::ProcessGroup& group = distributed::world();  // one process unless under mpirun
  lm::check_batch_divides(o.batch, group.size());
  const lm::StreamShare share = lm::stream_share(o.batch, group.rank(), group.size());
  const int64_t batch = share.count;  // this rank's streams
  const Device device = lm::checked_device(o.device, group);
  std::unique_ptr<lm::Reporter> reporter =
      lm::make_reporter(group.rank() == 0 ? lm::ReporterKind::Plain : lm::ReporterKind::Quiet, stderr);
  lm::StepParts parts = lm::build_step_parts(o, std::max<int64_t>(bench.vocab, 1), device, *reporter);
  const std::string device_name = device.is_cuda() ? device_description(device) : "cpu";
  lm::LanguageModel& model = *parts.model;
  const nn::RNNOptions& ro = model.rnn->options();
  std::unique_ptr<optim::Optimizer> rnn_optimizer;  // the RNN alone: the optimizer on its weights only
  if (!language_model) rnn_optimizer = lm::make_optimizer(o, model.rnn->parameters());
  optim::Optimizer& optimizer = language_model ? *parts.optimizer : *rnn_optimizer;
  if (bench.ntasgd_averaging) dynamic_cast<optim::ASGD&>(optimizer).start_averaging();

  std::unique_ptr<nn::DataParallel> parallel;
  if (group.size() > 1) {
    lm::check_same_threads(group, get_num_threads());
    parallel = std::make_unique<nn::DataParallel>(group, language_model ? model.parameters() : model.rnn->parameters());
    parallel->broadcast_parameters();
    parts.step->set_data_parallel(parallel.get(), DropoutShard{share.first, o.batch});
  }
  // Random tokens for the longest step (--bptt-jitter draws up to jitter_cap), each rank its own.
  const int64_t longest = o.bptt_jitter ? lm::jitter_cap(o.bptt) : o.bptt;
  Generator data(2 + static_cast<uint64_t>(group.rank()));
  const TensorOptions index = TensorOptions{}.with_dtype(DType::Int64);
  auto tokens = [&] {
    Tensor u = rand({longest, batch}, TensorOptions{}.with_dtype(DType::Float64), &data, 0.0, double(bench.vocab));
    std::vector<int64_t> ids;
    for (double v : u.to_vector<double>()) ids.push_back(std::min<int64_t>(static_cast<int64_t>(v), bench.vocab - 1));
    return from_vector<int64_t>(ids, {longest, batch}, index);
  };
  Tensor inputs, targets, features, weigh;
  if (language_model) {
    inputs = tokens();
    targets = tokens();
  } else {
    const TensorOptions like = TensorOptions{}.with_dtype(o.parameter_dtype());
    features = randn({o.bptt, batch, o.embedding}, like, &data).to(device);
    weigh = randn({o.bptt, batch, ro.num_directions() * ro.output_hidden_size()}, like, &data).to(device);
  }
  // One step of `recur train` (lm::TrainStep), or of the RNN alone; returns its loss.
  nn::RNNState carry;
  auto step = [&](int64_t i) {
    if (language_model) {
      const int64_t length = o.step_length(i);
      const lm::Batch tokens_of_step{narrow(inputs, 0, 0, length), narrow(targets, 0, 0, length)};
      lm::StepResult result = (*parts.step)(tokens_of_step, carry, o.step_lr(o.lr, length), i);
      carry = std::move(result.carry);
      return result.loss;
    }
    Tensor loss;
    {
      profile::Phase phase("forward");
      auto [y, state] = model.rnn->forward(features);
      loss = sum(y * weigh);
    }
    {
      profile::Phase phase("backward");
      loss.backward();
    }
    if (parallel) parallel->average_gradients();  // MPI's time: outside the primitives
    {
      profile::Phase phase("optimizer");
      optimizer.step();
      optimizer.zero_grad();
    }
    return loss.item();
  };

  std::vector<double> times, reduce_times;
  double last_loss = 0.0;
  for (int i = 0; i < bench.warmup + bench.steps; ++i) {
    if (bench.profile && i == bench.warmup) profile::start();  // the timed steps only
    const double reduced_before = parallel ? parallel->all_reduce_seconds() : 0.0;
    const auto start = std::chrono::steady_clock::now();
    last_loss = step(i);
    backend_for(device).synchronize();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (i >= bench.warmup) {
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
  const double tokens_per_s = static_cast<double>(o.batch * o.bptt) / (median / 1000.0);
  // Forward and backward FLOPs of the RNN's GEMMs and the head (2 per multiply-add, x3 for
  // forward + two backward GEMMs).
  const double gates = static_cast<double>(ro.gates() * o.hidden), rec = static_cast<double>(ro.output_hidden_size());
  double flops = 0.0;
  for (int64_t l = 0; l < o.layers; ++l) {
    const double in = l == 0 ? static_cast<double>(o.embedding) : rec;
    flops += 2.0 * gates * (in + rec) + (o.proj > 0 ? 2.0 * o.hidden * rec : 0.0);
  }
  flops += 2.0 * rec * static_cast<double>(bench.vocab);  // the head (0 without one)
  flops *= 3.0 * static_cast<double>(o.batch * o.bptt);
  const double gflops = flops / (median / 1000.0) / 1e9;
  if (bench.json) {
    nlohmann::json j = {{"benchmark", "train-step"},
                        {"mode", o.mode},
                        {"input_size", o.embedding},
                        {"hidden", o.hidden},
                        {"layers", o.layers},
                        {"batch", o.batch},
                        {"seq", o.bptt},
                        {"vocab", bench.vocab},
                        {"proj", o.proj},
                        {"dropout_h", o.dropout_h},
                        {"wdrop", o.wdrop},
                        {"dropout", o.dropout},
                        {"dropout_e", o.dropout_e},
                        {"dropout_i", o.dropout_i},
                        {"dropout_o", o.dropout_o},
                        {"ar", o.ar},
                        {"tar", o.tar},
                        {"tie_weights", o.tie_weights},
                        {"bptt_jitter", o.bptt_jitter},
                        {"optimizer", o.optimizer},
                        {"ntasgd_averaging", bench.ntasgd_averaging},
                        {"lr", o.lr},
                        {"clip", o.clip},
                        {"dtype", o.dtype},
                        {"device", device.str()},
                        {"device_name", device_name},
                        {"allow_tf32", o.allow_tf32},
                        {"threads", get_num_threads()},
                        {"impl", nn::impl_name(model.rnn->implementation())},
                        {"gemm", gemm_provider_name()},
                        {"precision", cpu_gemm_precision_name(cpu_gemm_precision())},
                        {"steps", bench.steps},
                        {"ms_per_step", median},
                        {"ms_min", times.front()},
                        {"tokens_per_s", tokens_per_s},
                        {"gflop_per_step", flops / 1e9},
                        {"gflops", gflops},
                        {"loss", last_loss},
                        {"processes", group.size()},
                        {"all_reduce_ms", reduce_ms}};
    if (bench.profile) j["profile"] = profile_json(mean_ms, bench.steps);
    fmt::print("{}\n", j.dump());
  } else {
    fmt::print("train-step {} I={} H={} L={} B={} T={} V={} on {} ({} threads, {} RNN, {} GEMM, {} operands)\n", o.mode,
               o.embedding, o.hidden, o.layers, o.batch, o.bptt, bench.vocab, device, get_num_threads(),
               nn::impl_name(model.rnn->implementation()), gemm_provider_name(),
               cpu_gemm_precision_name(cpu_gemm_precision()));
    fmt::print("  median {:.2f} ms/step (min {:.2f}), {:.0f} tokens/s, {:.1f} GFLOP/s ({:.2f} GFLOP/step)\n", median,
               times.front(), tokens_per_s, gflops, flops / 1e9);
    if (parallel) {
      fmt::print("  {} processes of {} streams: gradient all-reduce median {:.3f} ms/step ({:.1f}% of the step)\n",
                 group.size(), batch, reduce_ms, 100.0 * reduce_ms / median);
    }
    if (bench.profile) print_profile(mean_ms, bench.steps);
  }
  return 0;
}

}  // namespace

Command add_bench_command(CLI::App& parent) {
  auto options = std::make_shared<TrainStepOptions>();
  CLI::App* app = parent.add_subcommand("bench", "Benchmarks");
  app->require_subcommand(1);
  CLI::App* step = app->add_subcommand("train-step", "Time a language-model training step");
  add_step_options(*step, options->train);
  step->add_option("--vocab-size", options->vocab, "vocabulary size (0 = the RNN alone: no embedding, head or loss)")
      ->check(CLI::NonNegativeNumber);
  step->add_flag("--ntasgd-averaging", options->ntasgd_averaging,
                 "with --optimizer ntasgd: average the weights from the first step, as after NT-ASGD's trigger "
                 "(without it the steps are plain SGD, as before the trigger)");
  step->add_option("--steps", options->steps, "timed steps")->check(CLI::PositiveNumber);
  step->add_option("--untimed-steps", options->warmup, "steps run first, not timed")->check(CLI::NonNegativeNumber);
  step->add_flag("--json", options->json, "print one JSON object");
  step->add_flag("--profile", options->profile,
                 "time every primitive of the timed steps and print where a step goes, op by op (each primitive "
                 "waits for its device, so a GPU step gets slower)");
  return {app, [options] { return run_train_step(*options); }};
}

}  // namespace recur::cli
