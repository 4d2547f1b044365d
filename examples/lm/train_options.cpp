#include "examples/lm/train_options.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/device.h"
#include "core/error.h"
#include "examples/lm/data.h"
#include "nn/json_integer.h"
#include "nn/rnn_functional.h"

namespace recur::lm {
namespace {

// Calls fn(name, field) for every option, in the order config.json lists them.
template <typename Options, typename Fn> void visit_options(Options& o, Fn&& fn) {
  fn("data", o.data);
  fn("vocab", o.vocab);
  fn("valid-fraction", o.valid_fraction);
  fn("min-count", o.min_count);
  fn("max-vocab", o.max_vocab);
  fn("mode", o.mode);
  fn("embedding", o.embedding);
  fn("hidden", o.hidden);
  fn("layers", o.layers);
  fn("dropout", o.dropout);
  fn("proj", o.proj);
  fn("tie-weights", o.tie_weights);
  fn("dropout-e", o.dropout_e);
  fn("dropout-i", o.dropout_i);
  fn("dropout-o", o.dropout_o);
  fn("dropout-h", o.dropout_h);
  fn("wdrop", o.wdrop);
  fn("ar", o.ar);
  fn("tar", o.tar);
  fn("bias", o.bias);
  fn("bidirectional", o.bidirectional);
  fn("input-mode", o.input_mode);
  fn("peepholes", o.peepholes);
  fn("cell-clip", o.cell_clip);
  fn("proj-clip", o.proj_clip);
  fn("forget-bias", o.forget_bias);
  fn("lstm-activation", o.lstm_activation);
  fn("gru-variant", o.gru_variant);
  fn("impl", o.impl);
  fn("dtype", o.dtype);
  fn("allow-tf32", o.allow_tf32);
  fn("precision", o.precision);
  fn("batch", o.batch);
  fn("bptt", o.bptt);
  fn("bptt-jitter", o.bptt_jitter);
  fn("optimizer", o.optimizer);
  fn("lr", o.lr);
  fn("weight-decay", o.weight_decay);
  fn("momentum", o.momentum);
  fn("nonmono", o.nonmono);
  fn("lr-schedule", o.lr_schedule);
  fn("warmup", o.warmup);
  fn("decay-steps", o.decay_steps);
  fn("min-lr", o.min_lr);
  fn("lr-step-size", o.lr_step_size);
  fn("lr-gamma", o.lr_gamma);
  fn("clip", o.clip);
  fn("steps", o.steps);
  fn("minutes", o.minutes);
  fn("eval-every", o.eval_every);
  fn("checkpoint-every", o.checkpoint_every);
  fn("log-every", o.log_every);
  fn("eval-batch", o.eval_batch);
  fn("eval-bptt", o.eval_bptt);
  fn("max-bad-steps", o.max_bad_steps);
  fn("seed", o.seed);
  fn("device", o.device);
  fn("out", o.out);
  fn("init-from", o.init_from);
}

}  // namespace

void TrainOptions::validate() const {
  const VocabKind kind = parse_vocab_kind(vocab);
  RECUR_CHECK(min_count >= 1, "--min-count must be >= 1, got {}", min_count);
  RECUR_CHECK(max_vocab == 0 || max_vocab >= 2,
              "--max-vocab must be 0 (no cap) or >= 2 (<unk> and <eol> included), got {}", max_vocab);
  RECUR_CHECK(kind == VocabKind::Words || (min_count == 1 && max_vocab == 0),
              "--min-count and --max-vocab apply to --vocab words, not to --vocab {} (got --min-count {}, --max-vocab "
              "{})",
              vocab, min_count, max_vocab);
  RECUR_CHECK(valid_fraction > 0.0 && valid_fraction < 1.0, "--valid-fraction must be in (0, 1), got {}",
              valid_fraction);
  (void)rnn_mode();
  RECUR_CHECK(!bidirectional,
              "--bidirectional cannot be used for a language model: the reverse direction would read the characters "
              "it must predict");
  RECUR_CHECK(embedding >= 1 && hidden >= 1 && layers >= 1,
              "--embedding, --hidden and --layers must be >= 1, got {}, {} and {}", embedding, hidden, layers);
  RECUR_CHECK(dropout >= 0.0 && dropout < 1.0, "--dropout must be in [0, 1), got {}", dropout);
  (void)rnn_impl();
  (void)parameter_dtype();
  RECUR_CHECK(precision == "f32" || precision == "bf16" || precision == "auto",
              "--precision must be f32, bf16 or auto, got '{}'", precision);
  RECUR_CHECK(precision != "bf16" || dtype == "float32",
              "--precision bf16 rounds the operands of float32 GEMMs, but --dtype {} computes in {}: drop one of them",
              dtype, dtype);
  RECUR_CHECK(precision != "bf16" || Device::parse(device).is_cpu(),
              "--precision bf16 is the precision of the CPU's GEMMs, but --device is {}", device);
  RECUR_CHECK(batch >= 1 && bptt >= 1, "--batch and --bptt must be >= 1, got {} and {}", batch, bptt);
  RECUR_CHECK(!bptt_jitter || bptt >= kMinJitteredBptt,
              "--bptt-jitter needs --bptt >= {} (the shortest length it draws), got {}", kMinJitteredBptt, bptt);
  (void)optimizer_kind();
  RECUR_CHECK(nonmono >= 1, "--nonmono must be >= 1 (evaluations), got {}", nonmono);
  RECUR_CHECK(std::isfinite(lr) && lr >= 0.0, "--lr must be a positive number, got {}", lr);
  RECUR_CHECK(std::isfinite(momentum) && momentum >= 0.0 && momentum < 1.0, "--momentum must be in [0, 1), got {}",
              momentum);
  (void)schedule_kind();
  RECUR_CHECK(warmup >= 0 && decay_steps >= 0, "--warmup and --decay-steps must be >= 0, got {} and {}", warmup,
              decay_steps);
  RECUR_CHECK(min_lr >= 0.0 && min_lr <= 1.0, "--min-lr is a fraction of --lr in [0, 1], got {}", min_lr);
  RECUR_CHECK(lr_step_size >= 0, "--lr-step-size must be >= 0, got {}", lr_step_size);
  RECUR_CHECK(lr_gamma > 0.0 && lr_gamma <= 1.0, "--lr-gamma must be in (0, 1], got {}", lr_gamma);
  RECUR_CHECK(std::isfinite(clip) && clip >= 0.0, "--clip must be >= 0 (0 = no clipping), got {}", clip);
  RECUR_CHECK(steps >= 0, "--steps must be >= 0, got {}", steps);
  RECUR_CHECK(std::isfinite(minutes) && minutes >= 0.0, "--minutes must be >= 0, got {}", minutes);
  RECUR_CHECK(steps > 0 || minutes > 0.0, "give the length of the run: --steps N or --minutes M");
  RECUR_CHECK(eval_every >= 0 && checkpoint_every >= 0 && log_every >= 0,
              "--eval-every, --checkpoint-every and --log-every must be >= 0, got {}, {} and {}", eval_every,
              checkpoint_every, log_every);
  RECUR_CHECK(eval_batch >= 1 && eval_bptt >= 1, "--eval-batch and --eval-bptt must be >= 1, got {} and {}", eval_batch,
              eval_bptt);
  RECUR_CHECK(max_bad_steps >= 1, "--max-bad-steps must be >= 1, got {}", max_bad_steps);
  (void)Device::parse(device);
  (void)model_config(1);  // the RNN's own checks (LSTM-only options, ...)
  // model.safetensors is written under PyTorch's names for torch.nn.LSTM, which takes
  // proj_size < hidden_size only; recur's RNN itself projects to any size.
  RECUR_CHECK(proj < hidden,
              "--proj {} must be smaller than --hidden {}: model.safetensors is saved under PyTorch's names, and "
              "PyTorch's nn.LSTM cannot load a proj_size >= hidden_size",
              proj, hidden);
}

void TrainOptions::fill_defaults() {
  lr = effective_lr();
  weight_decay = effective_weight_decay();
  if (steps > 0 && minutes <= 0.0) {
    if (eval_every == 0) eval_every = std::max<int64_t>(1, (steps + kAutoEvals - 1) / kAutoEvals);
    if (log_every == 0) log_every = std::max<int64_t>(1, steps / kAutoRows);
  }
}

ModelConfig TrainOptions::model_config(int64_t vocab_size) const {
  nlohmann::json rnn = {{"mode", mode},
                        {"input_size", embedding},
                        {"hidden_size", hidden},
                        {"num_layers", layers},
                        {"bias", bias},
                        {"direction", bidirectional ? "bidirectional" : "unidirectional"},
                        {"dropout", layers > 1 ? dropout : 0.0},
                        {"variational_dropout", dropout_h},
                        {"weight_dropout", wdrop},
                        {"proj_size", proj},
                        {"input_mode", input_mode},
                        {"use_peepholes", peepholes},
                        {"cell_clip", cell_clip},
                        {"proj_clip", proj_clip},
                        {"forget_bias", forget_bias},
                        {"activation", lstm_activation},
                        {"gru_variant", gru_variant}};
  ModelConfig config;
  config.vocab_size = vocab_size;
  config.embedding_dim = embedding;
  config.dropout = dropout;
  config.tie_weights = tie_weights;
  config.dropout_e = dropout_e;
  config.dropout_i = dropout_i;
  config.dropout_o = dropout_o;
  config.ar = ar;
  config.tar = tar;
  config.rnn = rnn.get<nn::RNNOptions>();
  config.validate();
  return config;
}

DType TrainOptions::parameter_dtype() const {
  if (dtype == "float32") return DType::Float32;
  if (dtype == "float64") return DType::Float64;
  RECUR_FAIL("--dtype must be float32 or float64, got '{}'", dtype);
}

OptimizerKind TrainOptions::optimizer_kind() const {
  if (optimizer == "adam") return OptimizerKind::Adam;
  if (optimizer == "adamw") return OptimizerKind::AdamW;
  if (optimizer == "rmsprop") return OptimizerKind::RMSprop;
  if (optimizer == "sgd") return OptimizerKind::SGD;
  if (optimizer == "ntasgd") return OptimizerKind::NTASGD;
  RECUR_FAIL("unknown --optimizer '{}' (expected adam, adamw, rmsprop, sgd or ntasgd)", optimizer);
}

optim::ScheduleKind TrainOptions::schedule_kind() const {
  if (lr_schedule == "constant") return optim::ScheduleKind::Constant;
  if (lr_schedule == "cosine") return optim::ScheduleKind::Cosine;
  if (lr_schedule == "step") return optim::ScheduleKind::Step;
  RECUR_FAIL("unknown --lr-schedule '{}' (expected constant, cosine or step)", lr_schedule);
}

nn::RNNMode TrainOptions::rnn_mode() const { return nn::parse_mode(mode); }

nn::RNNImpl TrainOptions::rnn_impl() const { return nn::parse_impl(impl); }

optim::LrSchedule TrainOptions::make_lr_schedule() const {
  return optim::LrSchedule{.kind = schedule_kind(),
                           .base = effective_lr(),
                           .min_ratio = min_lr,
                           .warmup = warmup,
                           .step_size = lr_step_size,
                           .gamma = lr_gamma};
}

double TrainOptions::effective_lr() const {
  if (lr > 0.0) return lr;
  switch (optimizer_kind()) {
    case OptimizerKind::SGD:
    case OptimizerKind::NTASGD: return 1.0;
    case OptimizerKind::RMSprop: return 2e-3;
    case OptimizerKind::Adam:
    case OptimizerKind::AdamW: break;
  }
  return 5e-3;
}

int64_t TrainOptions::step_length(int64_t step) const { return bptt_jitter ? jittered_bptt(seed, step, bptt) : bptt; }

double TrainOptions::step_lr(double lr, int64_t length) const {
  return bptt_jitter ? lr * static_cast<double>(length) / static_cast<double>(bptt) : lr;
}

double TrainOptions::effective_weight_decay() const {
  if (weight_decay >= 0.0) return weight_decay;
  return optimizer_kind() == OptimizerKind::AdamW ? 0.01 : 0.0;
}

void take_model_options(TrainOptions& options, const ModelConfig& model, const Vocabulary& vocab,
                        const std::set<std::string>& given) {
  const nlohmann::json rnn = model.rnn;
  const auto take = [&](const char* name, auto& field, const auto& value) {
    if (given.count(name) == 0) field = value;
  };
  take("vocab", options.vocab, vocab_kind_name(vocab.kind()));
  take("embedding", options.embedding, model.embedding_dim);
  take("dropout", options.dropout, model.dropout);
  take("tie-weights", options.tie_weights, model.tie_weights);
  take("mode", options.mode, rnn.at("mode").get<std::string>());
  take("hidden", options.hidden, rnn.at("hidden_size").get<int64_t>());
  take("layers", options.layers, rnn.at("num_layers").get<int64_t>());
  take("proj", options.proj, rnn.at("proj_size").get<int64_t>());
  take("bias", options.bias, rnn.at("bias").get<bool>());
  take("input-mode", options.input_mode, rnn.at("input_mode").get<std::string>());
  take("peepholes", options.peepholes, rnn.at("use_peepholes").get<bool>());
  take("cell-clip", options.cell_clip, rnn.at("cell_clip").get<double>());
  take("proj-clip", options.proj_clip, rnn.at("proj_clip").get<double>());
  take("forget-bias", options.forget_bias, rnn.at("forget_bias").get<double>());
  take("lstm-activation", options.lstm_activation, rnn.at("activation").get<std::string>());
  take("gru-variant", options.gru_variant, rnn.at("gru_variant").get<std::string>());
}

void to_json(nlohmann::json& j, const TrainOptions& options) {
  j = nlohmann::json::object();
  visit_options(options, [&](const char* name, const auto& field) { j[name] = field; });
}

void from_json(const nlohmann::json& j, TrainOptions& options) {
  RECUR_CHECK(j.is_object(), "training options: expected a JSON object, got {}", j.type_name());
  std::set<std::string> known;
  visit_options(options, [&](const char* name, auto& field) {
    known.insert(name);
    if (!j.contains(name)) return;
    try {
      using Field = std::decay_t<decltype(field)>;
      if constexpr (std::is_integral_v<Field> && !std::is_same_v<Field, bool>) {
        field = nn::json_integer<Field>(j.at(name), fmt::format("training option \"{}\"", name));
      } else {
        j.at(name).get_to(field);
      }
    } catch (const nlohmann::json::exception& e) {
      RECUR_FAIL("training option \"{}\": {}", name, e.what());
    }
  });
  for (const auto& [key, value] : j.items()) {
    RECUR_CHECK(known.count(key) > 0, "training options: unknown option \"{}\"", key);
  }
}

TrainOptions options_from_config(const nlohmann::json& config, const std::string& path,
                                 const TrainOptions& command_line, const std::set<std::string>& given) {
  RECUR_CHECK(config.is_object(), "--config {}: expected a JSON object (a run's config.json), got {}", path,
              config.type_name());
  nlohmann::json merged = config.contains("train") ? config["train"] : config;
  RECUR_CHECK(merged.is_object(), "--config {}: \"train\" is {}, expected an object of training options", path,
              merged.type_name());
  merged.erase("out");
  try {
    (void)merged.get<TrainOptions>();  // names the file's bad option before the command line's are merged
  } catch (const Error& e) {
    RECUR_FAIL("--config {}: {}", path, e.what());
  }
  const nlohmann::json requested = command_line;
  for (const std::string& name : given) {
    if (requested.contains(name)) merged[name] = requested[name];
  }
  return merged.get<TrainOptions>();
}

const std::set<std::string>& resumable_option_names() {
  static const std::set<std::string> names = {"steps",     "minutes",    "eval-every", "checkpoint-every",
                                              "log-every", "eval-batch", "eval-bptt",  "max-bad-steps",
                                              "device",    "out",        "data"};
  return names;
}

void apply_resume_overrides(TrainOptions& saved, const TrainOptions& requested, const std::set<std::string>& given) {
  const nlohmann::json old_json = saved, new_json = requested;
  for (const std::string& name : given) {
    if (name == "threads") continue;  // the process's setting, which Trainer::resume handles
    RECUR_CHECK(new_json.contains(name), "unknown training option --{}", name);
    if (name == "data" || name == "out") continue;  // checked by the caller (the data's fingerprint, the folder)
    if (resumable_option_names().count(name) > 0) continue;
    RECUR_CHECK(old_json[name] == new_json[name],
                "--{} is {} but the run being resumed used {}: a resumed run keeps its model, data and optimizer "
                "(drop the option, or start a new run with --out)",
                name, new_json[name].dump(), old_json[name].dump());
  }
  nlohmann::json merged = old_json;
  for (const std::string& name : given) {
    if (resumable_option_names().count(name) > 0 && name != "data" && name != "out") merged[name] = new_json[name];
  }
  saved = merged.get<TrainOptions>();
}

}  // namespace recur::lm
