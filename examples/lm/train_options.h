// Every option of `recur train`, with the defaults of the recipe (docs/TRAINING.md), and their
// JSON form. The JSON keys are the command-line names without the dashes ("hidden",
// "lr-schedule"), so that a resumed run can say which option differs from the checkpoint in the
// user's own words.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <set>
#include <string>

#include "examples/lm/model.h"
#include "examples/lm/vocab.h"
#include "nn/rnn_functional.h"
#include "optim/lr_schedule.h"

namespace recur::lm {

constexpr int64_t kAutoEvals = 5;   // evaluations per run when --eval-every is 0
constexpr int64_t kAutoRows = 200;  // metrics rows per run when --log-every is 0

enum class OptimizerKind : uint8_t { Adam, AdamW, RMSprop, SGD, NTASGD };

struct TrainOptions {
  // ---- data ------------------------------------------------------------------------------
  std::string data;             // --data FILE
  std::string vocab = "chars";  // --vocab bytes|chars|words
  double valid_fraction = 0.1;  // --valid-fraction: the end of the file
  int64_t min_count = 1;        // --min-count: words seen fewer times are <unk> (words)
  int64_t max_vocab = 0;        // --max-vocab: the most tokens kept, <unk> and <eol> included (words; 0 = all)

  // ---- model -----------------------------------------------------------------------------
  std::string mode = "lstm";  // --mode lstm|gru|rnn_tanh|rnn_relu
  int64_t embedding = 64;     // --embedding
  int64_t hidden = 256;       // --hidden
  int64_t layers = 2;         // --layers
  double dropout = 0.0;       // --dropout: between RNN layers and before the head
  int64_t proj = 0;           // --proj (LSTM projection size, 0 = none)
  bool tie_weights = false;   // --tie-weights: the head's weight is the embedding matrix
  // AWD-LSTM's regularizers (examples/lm/regularization.h), 0 = off:
  double dropout_e = 0.0;      // --dropout-e: embedding dropout (whole words, one mask per batch)
  double dropout_i = 0.0;      // --dropout-i: locked dropout on the embedding output
  double dropout_o = 0.0;      // --dropout-o: locked dropout on the last layer's output
  double dropout_h = 0.0;      // --dropout-h: locked dropout between RNN layers
  double wdrop = 0.0;          // --wdrop: weight dropout (DropConnect) on every W_hh
  double ar = 0.0;             // --ar: alpha of activation regularization
  double tar = 0.0;            // --tar: beta of temporal activation regularization
  bool bias = true;            // --no-bias
  bool bidirectional = false;  // --bidirectional: refused
  std::string input_mode = "linear_input";
  bool peepholes = false;
  double cell_clip = 0.0, proj_clip = 0.0, forget_bias = 0.0;
  std::string lstm_activation = "tanh";
  std::string gru_variant = "linear_before_reset";
  std::string impl = "auto";      // --impl auto|cells|fused (the CPU RNN implementation)
  std::string dtype = "float32";  // --dtype float32|float64: the parameters' and the computation's type
  bool allow_tf32 = false;        // --allow-tf32: float32 GEMMs on a GPU may use TF32
  std::string precision = "f32";  // --precision f32|bf16|auto: the CPU GEMMs' operands (backends/settings.h)

  // ---- batching --------------------------------------------------------------------------
  int64_t batch = 32;  // --batch: parallel streams B
  int64_t bptt = 64;   // --bptt: truncated back-propagation length T
  // --bptt-jitter: a random length per batch around --bptt (AWD-LSTM; examples/lm/data.h)
  bool bptt_jitter = false;

  // ---- optimisation ----------------------------------------------------------------------
  std::string optimizer = "adam";      // --optimizer adam|adamw|rmsprop|sgd|ntasgd
  double lr = 0.0;                     // --lr; 0 = the optimizer's recipe default
  double weight_decay = -1.0;          // --weight-decay; < 0 = the optimizer's default
  double momentum = 0.9;               // --momentum (sgd)
  int64_t nonmono = 5;                 // --nonmono: NT-ASGD's non-monotone interval (optim/nonmono.h)
  std::string lr_schedule = "cosine";  // --lr-schedule constant|cosine|step
  int64_t warmup = 0;                  // --warmup steps (linear from 0)
  int64_t decay_steps = 0;             // --decay-steps: the schedule's length (0 = --steps or --minutes)
  double min_lr = 0.0;                 // --min-lr: cosine floor, as a fraction of --lr
  int64_t lr_step_size = 0;            // --lr-step-size: step schedule period (0 = a third of the run)
  double lr_gamma = 0.3;               // --lr-gamma: step schedule factor
  double clip = 5.0;                   // --clip: global gradient norm (0 = none)

  // ---- length, evaluation, checkpoints ---------------------------------------------------
  int64_t steps = 0;             // --steps (0 = no step limit)
  double minutes = 0.0;          // --minutes: training-time budget (0 = none)
  int64_t eval_every = 0;        // --eval-every steps (0 = kAutoEvals times per run)
  int64_t checkpoint_every = 0;  // --checkpoint-every steps (0 = at evaluations, the end and a signal only)
  int64_t log_every = 0;         // --log-every steps (0 = kAutoRows rows per run)
  int64_t eval_batch = 32;       // --eval-batch: streams of the validation pass
  int64_t eval_bptt = 256;       // --eval-bptt
  int64_t max_bad_steps = 5;     // --max-bad-steps: non-finite steps in a row before stopping
  uint64_t seed = 1;             // --seed
  std::string device = "cpu";    // --device cpu|cuda[:N]
  std::string out;               // --out DIR (default runs/<timestamp>)
  std::string init_from;         // --init-from RUN: start from the weights of another run's checkpoint

  // Checks every option (recur::Error naming it and the value). Fills no defaults.
  void validate() const;
  // Replaces the placeholders by the values they stand for, as config.json records them: --lr
  // and --weight-decay by the optimizer's defaults, and for a run bounded by --steps alone,
  // --eval-every and --log-every 0 by the intervals that give kAutoEvals evaluations and
  // kAutoRows rows. (A run bounded by --minutes spreads them over its time: they stay 0.)
  void fill_defaults();
  // The options that name a choice, parsed (recur::Error naming the option and its choices).
  // The options keep the names, which config.json and the command line use.
  VocabKind vocab_kind() const { return parse_vocab_kind(vocab); }
  VocabSpec vocab_spec() const { return {.kind = vocab_kind(), .min_count = min_count, .max_vocab = max_vocab}; }
  OptimizerKind optimizer_kind() const;       // --optimizer
  optim::ScheduleKind schedule_kind() const;  // --lr-schedule
  nn::RNNMode rnn_mode() const;               // --mode
  nn::RNNImpl rnn_impl() const;               // --impl
  // The learning-rate schedule these options describe (optim/lr_schedule.h).
  optim::LrSchedule make_lr_schedule() const;
  DType parameter_dtype() const;
  // The model these options describe for a vocabulary of vocab_size symbols.
  ModelConfig model_config(int64_t vocab_size) const;
  // The learning rate used: --lr, or the optimizer's recipe default.
  double effective_lr() const;
  double effective_weight_decay() const;
  // The length T_s of step `step`: --bptt, or with --bptt-jitter the one jittered_bptt draws
  // (examples/lm/data.h).
  int64_t step_length(int64_t step) const;
  // The learning rate of a step of `length` tokens per stream when the schedule gives `lr`:
  // with --bptt-jitter lr * length / --bptt, so that a short batch moves the weights less.
  double step_lr(double lr, int64_t length) const;
};

// For --init-from: the model options (--mode, --hidden, ..., --dropout and --vocab) that describe
// `model` and `vocab`, except those the user gave (`given`, names without dashes), which the
// trainer then checks against the model (all but --dropout must match it).
void take_model_options(TrainOptions& options, const ModelConfig& model, const Vocabulary& vocab,
                        const std::set<std::string>& given);

// `recur train --config FILE`: the options of a config.json (a run's, whose "train" object is
// read, or that object alone) with those given on the command line (`given`, names without
// dashes, values in `command_line`) over them. The file's "out" is dropped: a new run gets its
// own folder. recur::Error naming `path` for a file that is not one.
TrainOptions options_from_config(const nlohmann::json& config, const std::string& path,
                                 const TrainOptions& command_line, const std::set<std::string>& given);

void to_json(nlohmann::json& j, const TrainOptions& options);
// Unknown keys are an error; missing keys keep the defaults.
void from_json(const nlohmann::json& j, TrainOptions& options);

// Options a resumed run may change: the length, the intervals, the output cadence.
const std::set<std::string>& resumable_option_names();
// Applies to `saved` the options the user gave (`given`, names without dashes) for a resumed
// run: those in resumable_option_names() replace the saved values; any other that differs from
// the saved value is a recur::Error ("--hidden is 512, the checkpoint's run has 256: ...").
// "threads" (the program's --threads, not a training option) is left to Trainer::resume.
void apply_resume_overrides(TrainOptions& saved, const TrainOptions& requested, const std::set<std::string>& given);

}  // namespace recur::lm
