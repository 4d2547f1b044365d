// Checkpoints of a language-model run. A run folder holds the latest checkpoint, RUN/checkpoint/,
// and the one of the best validation loss so far, RUN/checkpoint-best/ (the same files):
//
//   model.safetensors      the weights under PyTorch's names (examples/lm/model.h); metadata
//                          "format" = "recur-lm", "model" (ModelConfig JSON), "vocab" (the
//                          vocabulary JSON), "step"
//   optimizer.safetensors  the optimizer's state dict (optim/optimizer.h)
//
// Once NT-ASGD averages (optim/asgd.h), model.safetensors holds the averaged weights, which
// evaluation, `sample`, `eval` and --init-from use, and optimizer.safetensors the weights training
// goes on from (the averager's "held" values, saved while swapped: optim/weight_averager.h).
//   carry.safetensors      the hidden state carried into the next batch: "h" (and "c")
//   state.json             the position in the run: step, epoch, batch, the streams' cursor,
//                          tokens, training time, every random stream's (seed, offset), counters,
//                          the open log interval, NT-ASGD's validation losses and trigger step
//   config.json            the run's configuration (a copy of RUN/config.json)
//
// Atomicity: a checkpoint is written into RUN/checkpoint.tmp (each file fsync'ed), which then
// replaces RUN/checkpoint in one renameat2(RENAME_EXCHANGE); so RUN/checkpoint is always either
// the previous complete checkpoint or the new complete one, whatever happens. Where the file
// system cannot exchange, the old one is first renamed RUN/checkpoint.old, which the reader uses
// when RUN/checkpoint is missing. The same holds for checkpoint-best.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "examples/lm/model.h"
#include "examples/lm/vocab.h"
#include "nn/state_dict.h"

namespace recur::optim {
class Optimizer;
}

namespace recur::lm {

struct GeneratorState {
  uint64_t seed = 0;
  uint64_t offset = 0;
};

// Everything besides tensors that a resumed run needs to continue exactly.
struct TrainProgress {
  int64_t step = 0;  // batches processed (skipped ones included)
  int64_t epoch = 0;
  int64_t batch_in_epoch = 0;  // the next batch of the epoch
  int64_t position = 0;        // --bptt-jitter: the streams' cursor (in tokens) of the next batch
  int64_t tokens = 0;          // tokens trained on
  double elapsed_s = 0.0;      // training time (evaluation and checkpoints excluded)
  int64_t skipped_steps = 0;   // steps with a non-finite loss or gradient, in total
  int64_t bad_in_a_row = 0;
  bool has_carry = false;  // false at an epoch start: the next batch starts from zeros
  // The open log interval (metrics.csv's next row).
  int64_t interval_steps = 0, interval_tokens = 0, interval_norms = 0;
  double interval_loss_sum = 0.0, interval_norm_sum = 0.0, interval_seconds = 0.0;
  double last_val_loss = std::numeric_limits<double>::quiet_NaN();
  // The best validation loss so far and its step (-1: none), which checkpoint-best/ holds.
  double best_val_loss = std::numeric_limits<double>::quiet_NaN();
  int64_t best_step = -1;
  std::map<std::string, GeneratorState> generators;
  // NT-ASGD (--optimizer ntasgd): the validation losses of the evaluations so far, which the
  // trigger compares (optim/nonmono.h), and the step at which averaging started (-1: not yet).
  std::vector<double> val_losses;
  int64_t averaging_from = -1;
};

void to_json(nlohmann::json& j, const TrainProgress& progress);
void from_json(const nlohmann::json& j, TrainProgress& progress);

// What a checkpoint holds, in memory.
struct Checkpoint {
  std::string dir;  // the checkpoint folder it was read from
  ModelConfig model;
  Vocabulary vocab;
  nn::StateDict weights;
  nlohmann::json config;    // config.json (training checkpoints only)
  nn::StateDict optimizer;  // (training checkpoints only)
  nn::StateDict carry;
  TrainProgress progress;
};

// Which of a run folder's checkpoints: the latest (checkpoint/) or the best (checkpoint-best/).
enum class Which : uint8_t { Latest, Best };
Which parse_which(const std::string& name);  // "latest", "best"; recur::Error otherwise
// The folder name of a run's checkpoint: "checkpoint", "checkpoint-best".
std::string checkpoint_name(Which which);

// The checkpoint folder for `path`: its folder when path is a checkpoint's model.safetensors,
// path itself when it holds model.safetensors, else path/checkpoint[-best] (or
// path/checkpoint[-best].old after an interrupted swap); "" when there is none.
std::string checkpoint_dir_if_any(const std::string& path, Which which = Which::Latest);
// The same, but recur::Error when there is none, naming what was looked for.
std::string find_checkpoint_dir(const std::string& path, Which which = Which::Latest);

// What load_checkpoint reads: the model part (model.safetensors: weights, configuration,
// vocabulary), or that and the training state (optimizer, carried state, progress, config.json).
enum class LoadParts : uint8_t { Model, ModelAndTrainingState };

// Reads the parts of a checkpoint. Every file is checked (recur::Error naming it): a missing or
// corrupt file, metadata that does not parse, weights that do not match their configuration.
Checkpoint load_checkpoint(const std::string& path, LoadParts parts, Which which = Which::Latest);

// Builds the model a checkpoint describes and loads its weights.
std::unique_ptr<LanguageModel> model_from_checkpoint(const Checkpoint& checkpoint);

// Writes RUN/checkpoint (or RUN/checkpoint-best) atomically (see above).
void save_checkpoint(const std::string& run_dir, Which which, LanguageModel& model, const Vocabulary& vocab,
                     const nlohmann::json& config, const optim::Optimizer& optimizer, const nn::RNNState& carry,
                     const TrainProgress& progress);

// The model.safetensors metadata of a model (also used by tests).
std::map<std::string, std::string> model_metadata(const ModelConfig& model, const Vocabulary& vocab, int64_t step);

}  // namespace recur::lm
