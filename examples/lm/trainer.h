// Training a character-level language model: the loop behind `recur train`.
//
// Each step takes the next batch of B streams x T steps (examples/lm/data.h), and the training
// step (examples/lm/train_step.h) runs the model from the hidden state carried (detached) from
// the previous batch, computes the mean cross-entropy, back-propagates, clips the global gradient
// norm, and lets the optimizer update the weights. The carried state restarts from zeros at
// every epoch. A step whose loss or gradient norm is not finite changes no weight: it is counted,
// the carried state is reset, and after --max-bad-steps of them in a row the run stops with a
// recur::Error, leaving the last checkpoint as it was. The cadence (examples/lm/cadence.h) says
// when to evaluate, log and checkpoint; the run folder (examples/lm/run_folder.h) holds what is
// written.
//
// AWD-LSTM's optimisation (docs/TRAINING.md): with --optimizer ntasgd the trainer applies the
// non-monotone trigger (optim/nonmono.h) to the validation loss of each evaluation and then has
// the optimizer average the weights (optim/asgd.h); evaluations and checkpoints swap the average
// in. With --bptt-jitter each step draws its length (jittered_bptt, examples/lm/data.h) and scales
// its learning rate by length / --bptt.
//
// Everything that influences the numbers is saved in a checkpoint (examples/lm/checkpoint.h):
// weights, optimizer state, every random stream, the position in the data, the carried state
// and the step. On the CPU, with the same thread count, a run stopped at step k and resumed
// computes bit for bit the losses of an uninterrupted run (with a step-bounded schedule; a
// time-bounded one follows the clock). config.json records the thread count and the CPU GEMM
// provider, which a resumed run restores.
//
// Under an MPI launcher (`mpirun -np N recur train`, docs/DISTRIBUTED.md) the N processes train
// one model: each takes its share of the --batch streams (examples/lm/data_parallel_run.h), the
// gradients are averaged (nn/data_parallel.h), and every decision is collective: the loss, a
// non-finite step, the clock (rank 0's), a stop request, the evaluation and the checkpoint, which
// holds the carried state of all the streams, so that it does not depend on N. Only rank 0
// writes the run folder and reports progress.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "backends/distributed.h"
#include "core/device.h"
#include "examples/lm/cadence.h"
#include "examples/lm/checkpoint.h"
#include "examples/lm/data.h"
#include "examples/lm/data_parallel_run.h"
#include "examples/lm/evaluate.h"
#include "examples/lm/metrics.h"
#include "examples/lm/model.h"
#include "examples/lm/progress.h"
#include "examples/lm/run_folder.h"
#include "examples/lm/train_options.h"
#include "examples/lm/train_step.h"
#include "examples/lm/vocab.h"
#include "nn/data_parallel.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"

namespace recur::optim {
class ASGD;
}

namespace recur::lm {

struct TrainHooks {
  // After the backward pass of a step, before clipping (tests inject bad gradients here).
  TrainStep::AfterBackward after_backward;
  // After every step with its loss (NaN when its loss was not finite).
  std::function<void(int64_t step, double loss)> on_step;
};

enum class RunEnd : uint8_t { Finished, Interrupted };

struct TrainResult {
  RunEnd end = RunEnd::Finished;
  int64_t step = 0;
  int64_t tokens = 0;
  double elapsed_s = 0.0;
  int64_t skipped_steps = 0;
  EvalResult validation;  // the final evaluation (Finished only)
  std::string run_dir;
};

// The device of this rank for --device `name` (rank_device), checked (recur::Error with the reason
// when it cannot be used).
Device checked_device(const std::string& name, const distributed::ProcessGroup& group);
// The optimizer --optimizer names, over `params`, with --lr and --weight-decay (or the
// optimizer's defaults) and --momentum. NT-ASGD's is an optim::ASGD that has not started averaging.
std::unique_ptr<optim::Optimizer> make_optimizer(const TrainOptions& options, const std::vector<Tensor>& params);

// What a training step needs, as `recur train` and `recur bench train-step` build it.
struct StepParts {
  std::unique_ptr<LanguageModel> model;
  std::unique_ptr<optim::Optimizer> optimizer;  // over model->parameters()
  optim::ASGD* asgd = nullptr;                  // optimizer, when it is NT-ASGD's
  std::unique_ptr<TrainStep> step;              // of model and optimizer
};
// The model of step 0 that `options` describe for a vocabulary of vocab_size symbols (its RNN
// implementation and dtype), on `device`, with the device's compute settings (the CPU GEMMs'
// --precision, which `reporter` is told of unless f32; --allow-tf32 on a GPU), its optimizer and
// its step (--clip). The parts are destroyed step first.
StepParts build_step_parts(const TrainOptions& options, int64_t vocab_size, Device device, Reporter& reporter,
                           TrainStep::AfterBackward after_backward = {});

// A resumed run computes with the thread count and CPU GEMM provider its config.json records
// ("threads", "cpu_gemm"), which change the last bits of the losses (docs/TRAINING.md), unless
// the user chose others (--threads, named in `given`, or RECUR_GEMM); then it warns that the
// losses will differ from an uninterrupted run's. `config_path` names the file in messages.
void restore_compute_settings(const nlohmann::json& config, const std::string& config_path,
                              const std::set<std::string>& given, Reporter& reporter);

class Trainer {
 public:
  // A new run: reads and checks the data, builds the vocabulary, the model and the optimizer,
  // creates the run folder, locks it (examples/lm/run_lock.h) and writes config.json. Every check
  // happens before the folder is created, so a bad option or data file leaves nothing behind.
  Trainer(const TrainOptions& options, Reporter& reporter, TrainHooks hooks = {});
  // Continues the run in `run_dir` from its checkpoint, holding the folder's lock (a folder that
  // another process trains in is a recur::Error naming that process). `given` names the options the user set
  // (without dashes); see apply_resume_overrides for what may change. The process takes the
  // run's thread count (set_num_threads) unless `given` holds "threads", and the run's CPU GEMM
  // provider unless RECUR_GEMM is set; a different one is reported as a warning, since the
  // losses then differ from an uninterrupted run's in the last bits.
  static std::unique_ptr<Trainer> resume(const std::string& run_dir, const TrainOptions& requested,
                                         const std::set<std::string>& given, Reporter& reporter, TrainHooks hooks = {});
  ~Trainer();

  // Trains until --steps or --minutes is reached (then evaluates and checkpoints), or until
  // *stop becomes non-zero (a signal: then checkpoints and returns Interrupted).
  TrainResult run(const std::atomic<int>* stop = nullptr);

  const std::string& run_dir() const { return options_.out; }
  // Rank 0 of a data-parallel run, or a process alone: the one that writes and reports.
  bool is_root() const { return group_->rank() == 0; }
  const TrainOptions& options() const { return options_; }
  LanguageModel& model() { return *model_; }
  const Vocabulary& vocab() const { return vocab_; }
  const TrainProgress& progress() const { return progress_; }
  const std::vector<MetricsRow>& metrics() const { return rows_; }

 private:
  struct ResumeTag {};
  Trainer(ResumeTag, Reporter& reporter, TrainHooks hooks);

  // Reads the data file, builds the vocabulary and the split. On resumption, `expected` is the
  // checkpoint's vocabulary and `expected_fingerprint` its data's (checked when not empty);
  // `vocab_source` prefixes the message naming a symbol outside `expected`.
  void load_data(const Vocabulary* expected, const std::string& expected_fingerprint,
                 const std::string& vocab_source = "");
  // Checks the options, loads the data and builds the model and optimizer of step 0 (with
  // --init-from, the vocabulary and weights of that checkpoint). A non-empty fingerprint must be
  // the data's.
  void prepare_from_step_zero(const std::string& expected_fingerprint);
  // A resumed run's options: those of its config.json (`read` when already read) with the
  // user's changes (apply_resume_overrides); restores the run's thread count and GEMM provider.
  // Returns the config.json.
  nlohmann::json take_recorded_options(const std::string& config_path, const TrainOptions& requested,
                                       const std::set<std::string>& given, const nlohmann::json* read = nullptr);
  // Restores the training state of a checkpoint (weights, optimizer, random streams, position,
  // carried state, metrics rows) into the model and optimizer just built.
  void restore(const Checkpoint& checkpoint);
  void build_model_and_optimizer();
  nlohmann::json config_json() const;
  // Data parallelism, once the model and optimizer are built (and restored): checks that the
  // ranks agree, takes this rank's streams, makes rank 0's weights and optimizer state every
  // rank's. Nothing in a process alone.
  void join_replicas();
  // Whether to stop for a signal: this process's request alone, or any rank's in a group
  // (agreed at the end of every step).
  bool stop_requested(const std::atomic<int>* stop) const;

  // The parts of run(): one step with its bookkeeping, and what follows the loop.
  void step();
  [[noreturn]] void stop_after_bad_steps();
  TrainResult interrupted();
  TrainResult finish();
  TrainResult result(RunEnd end) const;

  double evaluate_now();  // returns the validation loss
  // NT-ASGD: starts averaging when the validation loss triggers the non-monotone rule.
  void consider_averaging(double val_loss);
  void close_row(double val_loss);
  // Writes the latest checkpoint and, when `val_loss` (an evaluation just made) is the best so
  // far, the best one.
  void save(double val_loss = std::numeric_limits<double>::quiet_NaN());
  void write_logs();
  ProgressInfo progress_info() const;

  TrainOptions options_;
  std::string resumed_precision_;  // "f32" or "bf16": the precision an `auto` run being resumed chose
  Reporter& reporter_;
  TrainHooks hooks_;
  Device device_ = Device::cpu();
  distributed::ProcessGroup* group_ = &distributed::world();
  RunFolder folder_;  // holds the folder's lock for the trainer's lifetime (rank 0's alone)

  std::string data_fingerprint_;
  int64_t data_bytes_ = 0;
  Vocabulary vocab_;
  TokenSplit split_;
  std::unique_ptr<StreamBatcher> batcher_;

  std::unique_ptr<LanguageModel> model_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  optim::ASGD* asgd_ = nullptr;  // optimizer_, when it is NT-ASGD's
  std::unique_ptr<TrainStep> train_step_;
  optim::LrSchedule schedule_;
  Cadence cadence_;

  nn::RNNState carry_;
  TrainProgress progress_;
  std::vector<MetricsRow> rows_;
  int64_t last_checkpoint_step_ = -1;
  double lr_ = 0.0;
  double recent_step_seconds_ = 0.0;  // a moving average, for the bar's speed and ETA

  std::unique_ptr<nn::DataParallel> parallel_;  // with more than one process
  StreamShare share_;                           // this rank's streams
  const std::atomic<int>* stop_ = nullptr;      // run()'s
  bool group_stop_ = false;                     // some rank was asked to stop (a group's)
};

}  // namespace recur::lm
