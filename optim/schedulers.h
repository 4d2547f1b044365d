// Learning-rate schedules, as torch.optim.lr_scheduler: each sets the optimizer's per-group lr.
//
// Usage: build the scheduler after the optimizer (that applies epoch 0), then call step() once
// per epoch (or per batch, as the schedule is meant) after optimizer.step(). last_epoch counts
// the step() calls. state_dict() holds the progress (last_epoch, base and last lrs, and
// ReduceLROnPlateau's counters), not the hyper-parameters: restore the optimizer's state first
// (it holds the current lrs), then the scheduler's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/state_dict.h"
#include "optim/optimizer.h"

namespace recur::optim {

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  virtual std::string name() const = 0;
  // Advances one epoch and sets the optimizer's learning rates.
  virtual void step();
  // For ReduceLROnPlateau, the metric to watch; the other schedules ignore it.
  virtual void step(double metric);
  // The learning rates the last step() set, one per parameter group.
  const std::vector<double>& get_last_lr() const { return last_lrs_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  int64_t last_epoch() const { return last_epoch_; }

  virtual StateDict state_dict() const;
  // recur::Error (and no change) when the dict is for another number of groups or incomplete.
  virtual void load_state_dict(const StateDict& dict);

 protected:
  // base_lrs: the optimizer's current learning rates.
  explicit LRScheduler(Optimizer& optimizer);
  // The learning rates at last_epoch_ (already advanced), from the current ones.
  virtual std::vector<double> compute_lr() const = 0;
  // The constructor's step to epoch 0 (call at the end of the derived constructor).
  void initial_step() { step(); }
  void apply(const std::vector<double>& lrs);

  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  std::vector<double> last_lrs_;
  int64_t last_epoch_ = -1;
};

// lr = lr * gamma every step_size epochs (epoch 0 keeps the base lr).
class StepLR final : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);
  std::string name() const override { return "StepLR"; }

 protected:
  std::vector<double> compute_lr() const override;

 private:
  int64_t step_size_;
  double gamma_;
};

// lr = lr * gamma every epoch after epoch 0.
class ExponentialLR final : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);
  std::string name() const override { return "ExponentialLR"; }

 protected:
  std::vector<double> compute_lr() const override;

 private:
  double gamma_;
};

// Linear warm-up, then half a cosine down to min_lr_ratio * base lr (the schedule of
// transformers' get_cosine_schedule_with_warmup, with a floor). At step t:
//   t < warmup_steps:  lr = base * t / warmup_steps                 (0 at t = 0)
//   otherwise:         progress = min(1, (t - warmup_steps) / (total_steps - warmup_steps))
//                      lr = base * (min_lr_ratio + (1 - min_lr_ratio) * (1 + cos(pi * progress)) / 2)
// and base * min_lr_ratio from total_steps on.
class CosineWithWarmup final : public LRScheduler {
 public:
  CosineWithWarmup(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps, double min_lr_ratio = 0.0);
  std::string name() const override { return "CosineWithWarmup"; }
  // The multiplier of the base lr at step t.
  double factor(int64_t t) const;

 protected:
  std::vector<double> compute_lr() const override;

 private:
  int64_t warmup_steps_, total_steps_;
  double min_lr_ratio_;
};

enum class PlateauMode : uint8_t { Min, Max };  // whether the metric should go down or up
enum class ThresholdMode : uint8_t { Relative, Absolute };

struct PlateauOptions {
  PlateauMode mode = PlateauMode::Min;
  double factor = 0.1;    // new lr = lr * factor, in (0, 1)
  int64_t patience = 10;  // epochs without improvement tolerated before reducing
  double threshold = 1e-4;
  ThresholdMode threshold_mode = ThresholdMode::Relative;
  int64_t cooldown = 0;  // epochs to wait after a reduction before counting bad epochs again
  double min_lr = 0.0;
  double eps = 1e-8;  // reductions smaller than this are skipped
};

// Reduces the learning rates by `factor` once the metric has not improved for more than
// `patience` epochs. "Improved" (mode Min): metric < best * (1 - threshold) (Relative) or
// metric < best - threshold (Absolute); mode Max mirrors it. NaN never improves.
class ReduceLROnPlateau final : public LRScheduler {
 public:
  explicit ReduceLROnPlateau(Optimizer& optimizer, PlateauOptions options = {});
  std::string name() const override { return "ReduceLROnPlateau"; }
  void step() override;  // recur::Error: this schedule needs the metric
  void step(double metric) override;
  double best() const { return best_; }
  int64_t num_bad_epochs() const { return num_bad_epochs_; }
  int64_t cooldown_counter() const { return cooldown_counter_; }

  StateDict state_dict() const override;
  void load_state_dict(const StateDict& dict) override;

 protected:
  std::vector<double> compute_lr() const override;

 private:
  bool is_better(double metric) const;

  PlateauOptions options_;
  double best_;
  int64_t num_bad_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
};

}  // namespace recur::optim
