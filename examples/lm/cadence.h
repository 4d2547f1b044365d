// When a training run evaluates, logs a metrics row, checkpoints and stops, and how far it is:
// pure functions of the options and of the run's position (TrainProgress), so that a resumed
// run keeps the cadence of an uninterrupted one.
//
//   done        step >= --steps, or training time >= --minutes
//   fraction    of the run done: the larger of step / --steps and time / --minutes, at most 1
//   evaluate    every --eval-every steps, else kAutoEvals times per run (never at its very end:
//               the final evaluation follows the loop)
//   log         every --log-every steps, else kAutoRows rows per run
//   checkpoint  at every evaluation and every --checkpoint-every steps, but not in the middle
//               of non-finite steps (the last good checkpoint stays)
#pragma once

#include <cstdint>

#include "examples/lm/checkpoint.h"
#include "examples/lm/train_options.h"

namespace recur::lm {

// What is due after a step.
struct Due {
  bool evaluate = false;
  bool log = false;  // a metrics row without an evaluation (an evaluation writes one too)
  bool checkpoint = false;
};

class Cadence {
 public:
  Cadence() = default;
  explicit Cadence(const TrainOptions& options);

  bool done(const TrainProgress& progress) const;
  double fraction_done(const TrainProgress& progress) const;
  // The schedule's progress: step / --decay-steps (at most 1), or fraction_done().
  double schedule_progress(const TrainProgress& progress) const;
  // After the step that brought the run from `fraction_before` to `progress`.
  Due due(const TrainProgress& progress, double fraction_before) const;
  // Whether a run that goes on past this step evaluates after it: every --eval-every steps (false
  // for a run that spreads its evaluations over its length, whose steps depend on it).
  bool evaluates_after(const TrainProgress& progress) const;
  // Seconds left at `step_seconds` a step (< 0: unknown).
  double eta_s(const TrainProgress& progress, double step_seconds) const;

 private:
  int64_t steps_ = 0;
  double seconds_ = 0.0;  // --minutes, in seconds
  int64_t decay_steps_ = 0;
  int64_t eval_every_ = 0, log_every_ = 0, checkpoint_every_ = 0;
};

}  // namespace recur::lm
