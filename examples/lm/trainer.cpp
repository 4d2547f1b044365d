#include "examples/lm/trainer.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "backends/backend.h"
#include "backends/settings.h"
#include "optim/adam.h"
#include "optim/asgd.h"
#include "optim/nonmono.h"
#include "optim/rmsprop.h"
#include "optim/sgd.h"
#include "recur/config.h"

namespace recur::lm {
namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// NT-ASGD: the averaged weights in the model for the guard's lifetime (nothing before averaging
// starts, nor for another optimizer).
class AveragedWeights {
 public:
  explicit AveragedWeights(optim::ASGD* asgd) : asgd_(asgd != nullptr && asgd->averaging() ? asgd : nullptr) {
    if (asgd_ != nullptr) asgd_->swap_average();
  }
  ~AveragedWeights() {
    if (asgd_ != nullptr) asgd_->swap_average();
  }
  AveragedWeights(const AveragedWeights&) = delete;
  AveragedWeights& operator=(const AveragedWeights&) = delete;

 private:
  optim::ASGD* asgd_;
};

}  // namespace

Device checked_device(const std::string& name, const distributed::ProcessGroup& group) {
  const Device device = rank_device(Device::parse(name), name, group);
  check_device(device, "--device " + name);
  return device;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainOptions& o, const std::vector<Tensor>& params) {
  const double lr = o.effective_lr(), decay = o.effective_weight_decay();
  switch (o.optimizer_kind()) {
    case OptimizerKind::Adam:
      return std::make_unique<optim::Adam>(params, optim::AdamOptions{.lr = lr, .weight_decay = decay});
    case OptimizerKind::AdamW:
      return std::make_unique<optim::AdamW>(params, optim::AdamWOptions{.lr = lr, .weight_decay = decay});
    case OptimizerKind::RMSprop:
      return std::make_unique<optim::RMSprop>(params, optim::RMSpropOptions{.lr = lr, .weight_decay = decay});
    case OptimizerKind::NTASGD:  // plain SGD until the trigger, then averaged (optim/asgd.h)
      return std::make_unique<optim::ASGD>(params, optim::ASGDOptions{.lr = lr, .weight_decay = decay});
    case OptimizerKind::SGD: break;
  }
  return std::make_unique<optim::SGD>(params,
                                      optim::SGDOptions{.lr = lr, .momentum = o.momentum, .weight_decay = decay});
}

StepParts build_step_parts(const TrainOptions& options, int64_t vocab_size, Device device, Reporter& reporter,
                           TrainStep::AfterBackward after_backward) {
  StepParts parts;
  parts.model = std::make_unique<LanguageModel>(options.model_config(vocab_size), options.seed);
  parts.model->rnn->set_implementation(options.rnn_impl());
  parts.model->to(options.parameter_dtype());
  if (device.is_cpu()) {
    const CpuGemmPrecisionChoice precision = choose_cpu_gemm_precision(options.precision);
    set_cpu_gemm_precision(precision.precision);
    if (options.precision != "f32") reporter.message("CPU GEMM operands: " + precision.reason);
  }
  if (device.is_cuda()) {
    set_allow_tf32(device, options.allow_tf32);
    parts.model->to(device);
  }
  parts.optimizer = make_optimizer(options, parts.model->parameters());
  parts.asgd = dynamic_cast<optim::ASGD*>(parts.optimizer.get());
  parts.step =
      std::make_unique<TrainStep>(*parts.model, *parts.optimizer, device, options.clip, std::move(after_backward));
  return parts;
}

namespace {
constexpr const char* kNotBitIdentical = "the losses will not match those of an uninterrupted run bit for bit";
}  // namespace

void restore_compute_settings(const nlohmann::json& config, const std::string& config_path,
                              const std::set<std::string>& given, Reporter& reporter) {
  if (const auto threads = config.find("threads"); threads != config.end()) {
    RECUR_CHECK(threads->is_number_integer() && threads->get<int64_t>() > 0 && threads->get<int64_t>() < 4096,
                "{}: \"threads\" is {}, expected a thread count", config_path, threads->dump());
    const int run_threads = threads->get<int>();
    if (given.count("threads") == 0) {
      set_num_threads(run_threads);
    } else if (get_num_threads() != run_threads) {
      reporter.warning(
          fmt::format("--threads {}: the run used {} thread{}, so {} (resume without --threads to keep "
                      "them)",
                      get_num_threads(), run_threads, run_threads == 1 ? "" : "s", kNotBitIdentical));
    }
  }
  if (const auto gemm = config.find("cpu_gemm"); gemm != config.end()) {
    RECUR_CHECK(gemm->is_string() && (*gemm == "openblas" || *gemm == "onednn"),
                "{}: \"cpu_gemm\" is {}, expected \"openblas\" or \"onednn\"", config_path, gemm->dump());
    const std::string run_gemm = gemm->get<std::string>();
    const GemmProvider provider = run_gemm == "onednn" ? GemmProvider::OneDNN : GemmProvider::OpenBLAS;
    const char* chosen = std::getenv("RECUR_GEMM");
    if (chosen != nullptr && *chosen != '\0') {
      if (gemm_provider_name() != run_gemm) {
        reporter.warning(
            fmt::format("RECUR_GEMM={}: the run used the {} GEMM, so {}", chosen, run_gemm, kNotBitIdentical));
      }
    } else if (gemm_provider_available(provider)) {
      set_gemm_provider(provider);
    } else {
      reporter.warning(
          fmt::format("the run used the {} GEMM, which this build of recur lacks, so {}", run_gemm, kNotBitIdentical));
    }
  }
}

Trainer::Trainer(ResumeTag, Reporter& reporter, TrainHooks hooks) : reporter_(reporter), hooks_(std::move(hooks)) {}

Trainer::~Trainer() = default;

Trainer::Trainer(const TrainOptions& options, Reporter& reporter, TrainHooks hooks)
    : options_(options), reporter_(reporter), hooks_(std::move(hooks)) {
  prepare_from_step_zero("");
  join_replicas();
  if (is_root()) {
    folder_ = RunFolder::create(options_.out, reporter_);
    options_.out = folder_.dir();
    folder_.write_config(config_json());
  }
  group_->broadcast_bytes(options_.out, 0);  // the folder rank 0 chose (runs/<timestamp>), for messages
}

std::unique_ptr<Trainer> Trainer::resume(const std::string& run_dir, const TrainOptions& requested,
                                         const std::set<std::string>& given, Reporter& reporter, TrainHooks hooks) {
  std::unique_ptr<Trainer> trainer(new Trainer(ResumeTag{}, reporter, std::move(hooks)));
  Trainer& t = *trainer;
  t.folder_ = t.is_root() ? RunFolder::open(run_dir, reporter) : RunFolder::read_only(run_dir);
  if (!t.folder_.has_checkpoint() && t.folder_.has_config()) {
    // Stopped before its first checkpoint (kill -9, a crash): the run starts again from step 0
    // with the options it recorded, which gives the steps it had made.
    const nlohmann::json config = t.take_recorded_options(t.folder_.config_path(), requested, given);
    reporter.message(
        fmt::format("{} holds no checkpoint (its run stopped before the first one): starting it from "
                    "step 0 with the options of {}",
                    run_dir, t.folder_.config_path()));
    t.prepare_from_step_zero(config["data"].value("fingerprint", "(none)"));
    t.join_replicas();
    if (t.is_root()) t.folder_.write_config(t.config_json());
    return trainer;
  }
  const Checkpoint checkpoint = load_checkpoint(run_dir, LoadParts::ModelAndTrainingState);
  (void)t.take_recorded_options(checkpoint.dir + "/config.json", requested, given, &checkpoint.config);
  t.load_data(&checkpoint.vocab, checkpoint.config["data"].value("fingerprint", "(none)"));

  // config.json's options must ask for the checkpoint's model (whose weights load_checkpoint
  // matched to its configuration) before a model of their sizes is built.
  const std::string difference = config_difference(checkpoint.model, t.options_.model_config(t.vocab_.size()));
  RECUR_CHECK(difference.empty(), "the checkpoint in {} is a {}, but the options ask for another model ({})",
              checkpoint.dir, checkpoint.model.summary(), difference);
  t.build_model_and_optimizer();
  t.restore(checkpoint);
  t.join_replicas();
  if (t.is_root()) t.folder_.write_config(t.config_json());
  return trainer;
}

void Trainer::restore(const Checkpoint& checkpoint) {
  try {
    model_->load_state_dict(checkpoint.weights);
    optimizer_->load_state_dict(checkpoint.optimizer);
  } catch (const Error& e) {
    RECUR_FAIL("cannot resume from {}: {}", checkpoint.dir, e.what());
  }
  // NT-ASGD's checkpoint holds the average in model.safetensors and the training weights in the
  // optimizer's state: swapping back gives the model the weights training goes on from.
  if (asgd_ != nullptr && asgd_->averager().swapped()) asgd_->swap_average();
  progress_ = checkpoint.progress;
  for (auto& [name, generator] : model_->generators()) {
    const auto it = progress_.generators.find(name);
    RECUR_CHECK(it != progress_.generators.end(), "{}/state.json has no state for the random stream '{}'",
                checkpoint.dir, name);
    generator->set_state(it->second.seed, it->second.offset);
  }
  if (options_.bptt_jitter) {
    RECUR_CHECK(progress_.position < batcher_->stream_length(),
                "{}/state.json: position {} is past the streams' {} tokens", checkpoint.dir, progress_.position,
                batcher_->stream_length());
  } else {
    RECUR_CHECK(progress_.batch_in_epoch <= batcher_->batches_per_epoch(),
                "{}/state.json: batch {} is past the epoch's {} batches", checkpoint.dir, progress_.batch_in_epoch,
                batcher_->batches_per_epoch());
  }
  RECUR_CHECK((progress_.averaging_from >= 0) == (asgd_ != nullptr && asgd_->averaging()),
              "{}: state.json says averaging {}, but optimizer.safetensors {}", checkpoint.dir,
              progress_.averaging_from >= 0 ? fmt::format("started at step {}", progress_.averaging_from)
                                            : std::string("has not started"),
              asgd_ != nullptr && asgd_->averaging() ? "holds an average" : "holds none");
  if (progress_.has_carry) {
    const nn::RNN& rnn = *model_->rnn;
    const auto carried = [&](const char* name, const Shape& shape) {
      const auto it = checkpoint.carry.find(name);
      RECUR_CHECK(it != checkpoint.carry.end() && it->second.shape() == shape,
                  "{}/carry.safetensors: expected '{}' of shape {}", checkpoint.dir, name, shape_str(shape));
      return it->second.to(device_);
    };
    carry_.h = carried("h", rnn.state_shape(options_.batch));
    if (rnn.options().mode == nn::RNNMode::LSTM) carry_.c = carried("c", rnn.cell_state_shape(options_.batch));
  }
  rows_ = folder_.read_metrics(progress_.step);
  last_checkpoint_step_ = progress_.step;
}

nlohmann::json Trainer::take_recorded_options(const std::string& config_path, const TrainOptions& requested,
                                              const std::set<std::string>& given, const nlohmann::json* read) {
  const nlohmann::json config = read != nullptr ? *read : folder_.read_config();
  RECUR_CHECK(config.is_object() && config.contains("train") && config.contains("data") && config["data"].is_object(),
              "{} is not a recur training configuration (no \"train\" or \"data\")", config_path);
  restore_compute_settings(config, config_path, given, reporter_);
  try {
    options_ = config.at("train").get<TrainOptions>();
  } catch (const Error& e) {
    RECUR_FAIL("{}: {}", config_path, e.what());
  }
  // The values used (a config.json written before they were recorded holds placeholders).
  options_.lr = options_.effective_lr();
  options_.weight_decay = options_.effective_weight_decay();
  if (given.count("out") > 0) {
    std::error_code ignored;
    RECUR_CHECK(fs::equivalent(requested.out, folder_.dir(), ignored),
                "--out {} cannot be combined with --resume {}: a resumed run continues in its own folder",
                requested.out, folder_.dir());
  }
  apply_resume_overrides(options_, requested, given);
  // `--precision auto` resumes with the precision the run chose, which another CPU might not.
  const auto recorded = config.find("cpu_gemm_precision");
  if (options_.precision == "auto" && given.count("precision") == 0 && recorded != config.end() &&
      recorded->is_string() && (*recorded == "f32" || *recorded == "bf16")) {
    if (*recorded == "f32" || cpu_bfloat16_gemm_available()) {
      resumed_precision_ = recorded->get<std::string>();
      reporter_.message(
          fmt::format("--precision auto: the run chose {} GEMM operands ({}: \"cpu_gemm_precision\"), and "
                      "keeps them",
                      resumed_precision_, config_path));
    } else {
      reporter_.warning(
          fmt::format("the run used bfloat16 GEMM operands, which this CPU lacks, so {}", kNotBitIdentical));
    }
  }
  if (given.count("data") > 0) options_.data = requested.data;
  options_.out = folder_.dir();
  options_.fill_defaults();
  options_.validate();
  device_ = checked_device(options_.device, *group_);
  return config;
}

void Trainer::prepare_from_step_zero(const std::string& expected_fingerprint) {
  options_.fill_defaults();
  options_.validate();
  device_ = checked_device(options_.device, *group_);
  if (options_.init_from.empty()) {
    load_data(nullptr, expected_fingerprint);
    build_model_and_optimizer();
    return;
  }
  // Fine-tuning: the weights and the vocabulary of another run's checkpoint.
  const Checkpoint init = load_checkpoint(options_.init_from, LoadParts::Model);
  RECUR_CHECK(options_.vocab_kind() == init.vocab.kind(), "--init-from {}: its vocabulary is of {}, but --vocab is {}",
              options_.init_from, vocab_kind_name(init.vocab.kind()), options_.vocab);
  load_data(&init.vocab, expected_fingerprint, fmt::format("--init-from {}: ", options_.init_from));
  const ModelConfig requested = options_.model_config(vocab_.size());
  ModelConfig init_model = init.model;  // the dropout may change: it is no part of the weights
  init_model.dropout = requested.dropout;
  init_model.rnn.dropout = requested.rnn.dropout;
  const std::string difference = config_difference(init_model, requested);
  RECUR_CHECK(difference.empty(), "--init-from {}: its model is a {}, but the options ask for another model ({})",
              options_.init_from, init.model.summary(), difference);
  build_model_and_optimizer();
  nn::StateDict weights;  // in this run's --dtype, whichever the checkpoint's was
  for (const auto& [name, tensor] : init.weights) {
    weights[name] = is_floating(tensor.dtype()) ? tensor.to(options_.parameter_dtype()) : tensor;
  }
  try {
    model_->load_state_dict(weights);
  } catch (const Error& e) {
    RECUR_FAIL("--init-from {}: {}", options_.init_from, e.what());
  }
}

void Trainer::load_data(const Vocabulary* expected, const std::string& expected_fingerprint,
                        const std::string& vocab_source) {
  const std::string text = read_text_file(options_.data);
  data_fingerprint_ = fingerprint(text);
  RECUR_CHECK(expected_fingerprint.empty() || data_fingerprint_ == expected_fingerprint,
              "data file '{}' is not the one this run was trained on (fingerprint {}, the checkpoint's {}): pass the "
              "original file with --data",
              options_.data, data_fingerprint_, expected_fingerprint);
  data_bytes_ = static_cast<int64_t>(text.size());
  const std::string what = fmt::format("data file '{}'", options_.data);
  vocab_ = expected != nullptr ? *expected : Vocabulary::build(text, options_.vocab_spec(), what);
  split_ = split_tokens(vocab_.encode(text, vocab_source + what), options_.valid_fraction);
  batcher_ = std::make_unique<StreamBatcher>(
      split_.train, options_.batch, options_.bptt,
      fmt::format("the training part of '{}' ({:.0f}%)", options_.data, 100 * (1 - options_.valid_fraction)));
  if (options_.bptt_jitter) {  // the longest batch --bptt-jitter draws must fit in a stream
    const int64_t cap = jitter_cap(options_.bptt);
    RECUR_CHECK(batcher_->stream_length() > cap,
                "the training part of '{}' has streams of {} tokens, too short for --bptt-jitter, which draws lengths "
                "up to {} (--bptt + {}): use a longer file, or a smaller --batch or --bptt",
                options_.data, batcher_->stream_length(), cap, kJitterSpread);
  }
  // Checks now that the validation part can be evaluated.
  (void)EvalChunks(
      split_.valid, options_.eval_batch, options_.eval_bptt,
      fmt::format("the validation part of '{}' (the last {:.0f}%)", options_.data, 100 * options_.valid_fraction));
}

void Trainer::build_model_and_optimizer() {
  TrainOptions step_options = options_;
  if (!resumed_precision_.empty()) step_options.precision = resumed_precision_;
  StepParts parts = build_step_parts(step_options, vocab_.size(), device_, reporter_, hooks_.after_backward);
  model_ = std::move(parts.model);
  optimizer_ = std::move(parts.optimizer);
  asgd_ = parts.asgd;
  train_step_ = std::move(parts.step);
  schedule_ = options_.make_lr_schedule();
  cadence_ = Cadence(options_);
}

void Trainer::join_replicas() {
  if (group_->size() == 1) return;
  check_batch_divides(options_.batch, group_->size());
  check_same_threads(*group_, get_num_threads());
  share_ = stream_share(options_.batch, group_->rank(), group_->size());
  batcher_->set_shard(share_.first, share_.count);
  parallel_ = std::make_unique<nn::DataParallel>(*group_, model_->parameters());
  parallel_->broadcast_parameters();
  StateDict optimizer_state = optimizer_->state_dict();
  parallel_->broadcast_state(optimizer_state);
  optimizer_->load_state_dict(optimizer_state);
  parallel_->check_replicas_equal();
  train_step_->set_data_parallel(parallel_.get(), DropoutShard{share_.first, options_.batch});
  if (progress_.has_carry) carry_ = local_carry(carry_, share_);  // a checkpoint holds all the streams
}

bool Trainer::stop_requested(const std::atomic<int>* stop) const {
  if (parallel_) return group_stop_;
  return stop != nullptr && stop->load() > 0;
}

nlohmann::json Trainer::config_json() const {
  return nlohmann::json{{"recur_version", RECUR_VERSION},
                        {"threads", get_num_threads()},
                        {"cpu_gemm", gemm_provider_name()},
                        {"cpu_gemm_precision", cpu_gemm_precision_name(cpu_gemm_precision())},
                        {"data",
                         {{"path", options_.data},
                          {"bytes", data_bytes_},
                          {"fingerprint", data_fingerprint_},
                          {"train_tokens", split_.train.size()},
                          {"valid_tokens", split_.valid.size()},
                          {"batches_per_epoch", batcher_->batches_per_epoch()}}},
                        {"vocab", vocab_.to_json()},
                        {"model", model_->config()},
                        {"parameters", model_->num_parameters()},
                        {"train", options_}};
}

// The loop: a step, then what the cadence says is due (an evaluation or a metrics row, a
// checkpoint), until the run is done or a signal stops it.
TrainResult Trainer::run(const std::atomic<int>* stop) {
  reporter_.message(
      fmt::format("recur train: {} ({} parameters) on '{}': {} training and {} validation tokens, "
                  "vocabulary {} {}, {} batches of {}x{} per epoch, {} threads; run folder {}",
                  model_->config().summary(), model_->num_parameters(), options_.data, split_.train.size(),
                  split_.valid.size(), vocab_.size(), options_.vocab, batcher_->batches_per_epoch(), options_.batch,
                  options_.bptt, get_num_threads(), options_.out));
  if (parallel_) {
    reporter_.message(fmt::format("data parallel: {} (each process trains {} of the {} streams)", group_->description(),
                                  share_.count, options_.batch));
  }
  stop_ = stop;
  if (progress_.step > 0)
    reporter_.message(fmt::format("resuming at step {} (epoch {})", progress_.step, progress_.epoch));
  while (!cadence_.done(progress_)) {
    const double fraction_before = cadence_.fraction_done(progress_);
    step();
    if (progress_.bad_in_a_row >= options_.max_bad_steps) stop_after_bad_steps();
    if (cadence_.done(progress_)) break;  // the final evaluation, row and checkpoint follow the loop
    const Due due = cadence_.due(progress_, fraction_before);
    double val_loss = kNaN;
    if (due.evaluate) val_loss = evaluate_now();
    if (due.log) close_row(kNaN);
    if (due.checkpoint) save(val_loss);
    if (stop_requested(stop)) return interrupted();
  }
  return finish();
}

void Trainer::step() {
  const auto start = std::chrono::steady_clock::now();
  const bool jitter = options_.bptt_jitter;
  const int64_t length = options_.step_length(progress_.step);
  const bool epoch_over = jitter ? progress_.position + length >= batcher_->stream_length()
                                 : progress_.batch_in_epoch >= batcher_->batches_per_epoch();
  if (epoch_over) {  // a new epoch: the state restarts
    progress_.epoch += 1;
    progress_.batch_in_epoch = 0;
    progress_.position = 0;
    progress_.has_carry = false;
  }
  lr_ = schedule_.lr_at(progress_.step, cadence_.schedule_progress(progress_));
  const Batch batch =
      jitter ? batcher_->batch_at(progress_.position, length) : batcher_->batch(progress_.batch_in_epoch);
  StepResult result = (*train_step_)(batch, progress_.has_carry ? carry_ : nn::RNNState{},
                                     options_.step_lr(lr_, length), progress_.step);
  carry_ = std::move(result.carry);
  progress_.has_carry = result.applied;
  if (result.applied) {
    progress_.bad_in_a_row = 0;
  } else {
    progress_.skipped_steps += 1;
    progress_.bad_in_a_row += 1;
  }
  const int64_t tokens = options_.batch * length;
  progress_.step += 1;
  progress_.batch_in_epoch += 1;
  if (jitter) progress_.position += length;
  progress_.tokens += tokens;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (parallel_) {  // rank 0's clock, and whether any rank was asked to stop
    const bool stop_here = stop_ != nullptr && stop_->load() > 0;
    const std::vector<double> agreed = parallel_->sum({is_root() ? seconds : 0.0, stop_here ? 1.0 : 0.0});
    seconds = agreed[0];
    group_stop_ = agreed[1] > 0.0;
  }
  progress_.elapsed_s += seconds;
  recent_step_seconds_ = recent_step_seconds_ == 0.0 ? seconds : 0.9 * recent_step_seconds_ + 0.1 * seconds;
  add_step_to_interval(progress_, tokens, seconds, result.loss, result.grad_norm, result.applied);
  if (hooks_.on_step) hooks_.on_step(progress_.step - 1, result.loss);
  reporter_.step(progress_info());
}

void Trainer::stop_after_bad_steps() {
  write_logs();
  reporter_.finish();
  RECUR_FAIL(
      "training stopped at step {}: {} steps in a row had a non-finite loss or gradient; {} (try a lower "
      "--lr or a --clip)",
      progress_.step, progress_.bad_in_a_row,
      last_checkpoint_step_ >= 0 ? fmt::format("the last checkpoint, of step {}, in {}/checkpoint is intact",
                                               last_checkpoint_step_, options_.out)
                                 : std::string("no checkpoint was written"));
}

TrainResult Trainer::interrupted() {
  save();
  reporter_.finish();
  reporter_.message(
      fmt::format("interrupted at step {}: checkpoint written to {}/checkpoint; continue with "
                  "`recur train --resume {}`",
                  progress_.step, options_.out, options_.out));
  return result(RunEnd::Interrupted);
}

// The end: a full evaluation, then the final checkpoint.
TrainResult Trainer::finish() {
  EvalResult validation;
  {
    const AveragedWeights averaged(asgd_);
    validation = evaluate(*model_, split_.valid, options_.eval_batch, options_.eval_bptt, device_,
                          "the validation text", group_);
  }
  progress_.last_val_loss = validation.loss;
  if (!rows_.empty() && rows_.back().step == progress_.step && progress_.interval_steps == 0) {
    rows_.back().val_loss = validation.loss;  // a resumed run that had already finished
  } else {
    close_row(validation.loss);
    // NT-ASGD: a longer run evaluates here too, and its trigger counts this loss; so does a run
    // that is resumed from this checkpoint.
    if (cadence_.evaluates_after(progress_)) consider_averaging(validation.loss);
  }
  save(validation.loss);
  reporter_.finish();
  reporter_.message(fmt::format("step {}: validation loss {} over {} {}s ({}), evaluated in {:.1f} s", progress_.step,
                                describe_loss(validation.loss, vocab_.kind()), validation.tokens,
                                symbol_unit(vocab_.kind()), validation.layout(), validation.seconds));
  if (progress_.skipped_steps > 0) {
    reporter_.message(fmt::format("{} step{} skipped for a non-finite loss or gradient", progress_.skipped_steps,
                                  progress_.skipped_steps == 1 ? " was" : "s were"));
  }
  TrainResult finished = result(RunEnd::Finished);
  finished.validation = validation;
  return finished;
}

TrainResult Trainer::result(RunEnd end) const {
  TrainResult result;
  result.end = end;
  result.run_dir = options_.out;
  result.step = progress_.step, result.tokens = progress_.tokens;
  result.elapsed_s = progress_.elapsed_s, result.skipped_steps = progress_.skipped_steps;
  return result;
}

ProgressInfo Trainer::progress_info() const {
  ProgressInfo info;
  info.step = progress_.step;
  info.total_steps = options_.steps;
  info.epoch = progress_.epoch;
  info.loss =
      progress_.interval_steps > 0 ? interval_loss(progress_) : (rows_.empty() ? kNaN : rows_.back().train_loss);
  info.lr = lr_;
  info.tokens_per_s =
      recent_step_seconds_ > 0 ? static_cast<double>(options_.batch * options_.bptt) / recent_step_seconds_ : 0.0;
  info.elapsed_s = progress_.elapsed_s;
  info.fraction = cadence_.fraction_done(progress_);
  info.eta_s = cadence_.eta_s(progress_, recent_step_seconds_);
  return info;
}

void Trainer::close_row(double val_loss) {
  rows_.push_back(close_interval(progress_, lr_, val_loss));
  reporter_.log(progress_info());
}

double Trainer::evaluate_now() {
  EvalResult result;
  {
    const AveragedWeights averaged(asgd_);
    result = evaluate(*model_, split_.valid, options_.eval_batch, options_.eval_bptt, device_, "the validation text",
                      group_);
  }
  progress_.last_val_loss = result.loss;
  close_row(result.loss);
  reporter_.message(fmt::format("step {}: validation loss {}, {:.1f} s", progress_.step,
                                describe_loss(result.loss, vocab_.kind()), result.seconds));
  consider_averaging(result.loss);
  write_logs();
  return result.loss;
}

// NT-ASGD's trigger, on the validation loss every rank agrees on (evaluate's is collective), so
// that every rank starts averaging after the same step.
void Trainer::consider_averaging(double val_loss) {
  if (asgd_ == nullptr || asgd_->averaging()) return;
  if (optim::nonmono_triggered(progress_.val_losses, val_loss, options_.nonmono)) {
    asgd_->start_averaging();
    progress_.averaging_from = progress_.step;
    reporter_.message(fmt::format(
        "step {}: the validation loss is worse than the best of the evaluations before the last {} (--nonmono): "
        "NT-ASGD averages the weights from here on, and evaluates and saves the average",
        progress_.step, options_.nonmono));
    return;
  }
  progress_.val_losses.push_back(val_loss);
}

void Trainer::save(double val_loss) {
  progress_.generators.clear();
  for (auto& [name, generator] : model_->generators()) {
    progress_.generators[name] = {generator->seed(), generator->offset()};
  }
  // Collective: every rank's carried state (a checkpoint holds all the streams), and a check that
  // the replicas are still equal.
  const nn::RNNState carry = parallel_ ? gather_carry(*group_, carry_, device_) : carry_;
  if (parallel_) parallel_->check_replicas_equal();
  if (!is_root()) {
    if (std::isfinite(val_loss) && !(val_loss >= progress_.best_val_loss)) {
      progress_.best_val_loss = val_loss, progress_.best_step = progress_.step;
    }
    last_checkpoint_step_ = progress_.step;
    return;
  }
  // metrics.csv first: a process killed in between leaves rows past the last checkpoint, which a
  // resumed run drops, rather than a checkpoint whose rows are missing.
  write_logs();
  const nlohmann::json config = config_json();
  // NT-ASGD: model.safetensors holds the average, optimizer.safetensors the training weights.
  const AveragedWeights averaged(asgd_);
  // The best before the latest: a process killed in between resumes from the previous latest
  // checkpoint, redoes this evaluation and writes the best again.
  if (std::isfinite(val_loss) && !(val_loss >= progress_.best_val_loss)) {
    progress_.best_val_loss = val_loss;
    progress_.best_step = progress_.step;
    folder_.save_checkpoint(Which::Best, *model_, vocab_, config, *optimizer_, carry, progress_);
  }
  folder_.save_checkpoint(Which::Latest, *model_, vocab_, config, *optimizer_, carry, progress_);
  last_checkpoint_step_ = progress_.step;
}

void Trainer::write_logs() {
  if (!is_root()) return;
  const std::string title =
      fmt::format("{} on {}", model_->config().summary(), fs::path(options_.data).filename().string());
  folder_.write_logs(rows_, title, symbol_unit(vocab_.kind()));
}

}  // namespace recur::lm
