#include "optim/schedulers.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "optim/schedule_math.h"
#include "optim/state_values.h"

namespace recur::optim {

// ---- LRScheduler ------------------------------------------------------------------------

LRScheduler::LRScheduler(Optimizer& optimizer) : optimizer_(optimizer) {
  for (size_t g = 0; g < optimizer.param_groups().size(); ++g) base_lrs_.push_back(optimizer.lr(g));
  last_lrs_ = base_lrs_;
}

void LRScheduler::step() {
  ++last_epoch_;
  apply(compute_lr());
}

void LRScheduler::step(double /*metric*/) { step(); }

void LRScheduler::apply(const std::vector<double>& lrs) {
  for (size_t g = 0; g < lrs.size(); ++g) optimizer_.set_lr(g, lrs[g]);
  last_lrs_ = lrs;
}

StateDict LRScheduler::state_dict() const {
  return {{"last_epoch", detail::int64_scalar(last_epoch_)},
          {"base_lrs", detail::float64_vector(base_lrs_)},
          {"last_lrs", detail::float64_vector(last_lrs_)}};
}

void LRScheduler::load_state_dict(const StateDict& dict) {
  const std::string owner = name() + ".load_state_dict";
  const int64_t last_epoch = detail::read_int64(dict, "last_epoch", owner);
  std::vector<double> base_lrs = detail::read_float64_vector(dict, "base_lrs", owner);
  std::vector<double> last_lrs = detail::read_float64_vector(dict, "last_lrs", owner);
  const size_t groups = optimizer_.param_groups().size();
  RECUR_CHECK(base_lrs.size() == groups && last_lrs.size() == groups,
              "{}: the state has {} base and {} last learning rates, the optimizer has {} parameter groups", owner,
              base_lrs.size(), last_lrs.size(), groups);
  last_epoch_ = last_epoch;
  base_lrs_ = std::move(base_lrs);
  last_lrs_ = std::move(last_lrs);
}

// ---- StepLR, ExponentialLR --------------------------------------------------------------
// Chainable forms, as PyTorch's get_lr(): each multiplies the optimizer's current lr.

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  RECUR_CHECK(step_size > 0, "StepLR: step_size {}, expected > 0", step_size);
  RECUR_CHECK(std::isfinite(gamma) && gamma >= 0, "StepLR: gamma {}, expected a finite value >= 0", gamma);
  initial_step();
}

std::vector<double> StepLR::compute_lr() const {
  std::vector<double> lrs;
  const bool decay = last_epoch_ != 0 && last_epoch_ % step_size_ == 0;
  for (size_t g = 0; g < base_lrs_.size(); ++g) lrs.push_back(decay ? optimizer_.lr(g) * gamma_ : optimizer_.lr(g));
  return lrs;
}

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma) : LRScheduler(optimizer), gamma_(gamma) {
  RECUR_CHECK(std::isfinite(gamma) && gamma >= 0, "ExponentialLR: gamma {}, expected a finite value >= 0", gamma);
  initial_step();
}

std::vector<double> ExponentialLR::compute_lr() const {
  std::vector<double> lrs;
  for (size_t g = 0; g < base_lrs_.size(); ++g) {
    lrs.push_back(last_epoch_ == 0 ? optimizer_.lr(g) : optimizer_.lr(g) * gamma_);
  }
  return lrs;
}

// ---- CosineWithWarmup -------------------------------------------------------------------

CosineWithWarmup::CosineWithWarmup(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps, double min_lr_ratio)
    : LRScheduler(optimizer), warmup_steps_(warmup_steps), total_steps_(total_steps), min_lr_ratio_(min_lr_ratio) {
  RECUR_CHECK(warmup_steps >= 0, "CosineWithWarmup: warmup_steps {}, expected >= 0", warmup_steps);
  RECUR_CHECK(total_steps > warmup_steps, "CosineWithWarmup: total_steps {} must exceed warmup_steps {}", total_steps,
              warmup_steps);
  RECUR_CHECK(min_lr_ratio >= 0 && min_lr_ratio <= 1, "CosineWithWarmup: min_lr_ratio {}, expected in [0, 1]",
              min_lr_ratio);
  initial_step();
}

double CosineWithWarmup::factor(int64_t t) const {
  if (t < warmup_steps_) return warmup_factor(t, warmup_steps_);
  const double progress =
      std::min(1.0, static_cast<double>(t - warmup_steps_) / static_cast<double>(total_steps_ - warmup_steps_));
  return cosine_factor(progress, min_lr_ratio_);
}

std::vector<double> CosineWithWarmup::compute_lr() const {
  std::vector<double> lrs;
  const double f = factor(last_epoch_);
  for (const double base : base_lrs_) lrs.push_back(base * f);
  return lrs;
}

// ---- ReduceLROnPlateau ------------------------------------------------------------------

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, PlateauOptions options)
    : LRScheduler(optimizer),
      options_(options),
      best_(options.mode == PlateauMode::Min ? std::numeric_limits<double>::infinity()
                                             : -std::numeric_limits<double>::infinity()) {
  RECUR_CHECK(options.factor > 0 && options.factor < 1, "ReduceLROnPlateau: factor {}, expected in (0, 1)",
              options.factor);
  RECUR_CHECK(options.patience >= 0, "ReduceLROnPlateau: patience {}, expected >= 0", options.patience);
  RECUR_CHECK(options.cooldown >= 0, "ReduceLROnPlateau: cooldown {}, expected >= 0", options.cooldown);
  RECUR_CHECK(std::isfinite(options.threshold) && options.threshold >= 0,
              "ReduceLROnPlateau: threshold {}, expected a finite value >= 0", options.threshold);
  RECUR_CHECK(options.min_lr >= 0, "ReduceLROnPlateau: min_lr {}, expected >= 0", options.min_lr);
  last_epoch_ = 0;  // as PyTorch: no initial step, the lrs stay as they are
}

void ReduceLROnPlateau::step() { RECUR_FAIL("ReduceLROnPlateau.step() needs the metric to watch: call step(metric)"); }

bool ReduceLROnPlateau::is_better(double metric) const {
  const bool relative = options_.threshold_mode == ThresholdMode::Relative;
  if (options_.mode == PlateauMode::Min) {
    return relative ? metric < best_ * (1.0 - options_.threshold) : metric < best_ - options_.threshold;
  }
  return relative ? metric > best_ * (options_.threshold + 1.0) : metric > best_ + options_.threshold;
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  if (is_better(metric)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {  // bad epochs during the cooldown do not count
    --cooldown_counter_;
    num_bad_epochs_ = 0;
  }
  if (num_bad_epochs_ > options_.patience) {
    for (size_t g = 0; g < base_lrs_.size(); ++g) {
      const double old_lr = optimizer_.lr(g);
      const double new_lr = std::max(old_lr * options_.factor, options_.min_lr);
      if (old_lr - new_lr > options_.eps) optimizer_.set_lr(g, new_lr);
    }
    cooldown_counter_ = options_.cooldown;
    num_bad_epochs_ = 0;
  }
  last_lrs_ = compute_lr();
}

std::vector<double> ReduceLROnPlateau::compute_lr() const {
  std::vector<double> lrs;
  for (size_t g = 0; g < base_lrs_.size(); ++g) lrs.push_back(optimizer_.lr(g));
  return lrs;
}

StateDict ReduceLROnPlateau::state_dict() const {
  StateDict dict = LRScheduler::state_dict();
  dict["best"] = detail::float64_scalar(best_);
  dict["num_bad_epochs"] = detail::int64_scalar(num_bad_epochs_);
  dict["cooldown_counter"] = detail::int64_scalar(cooldown_counter_);
  return dict;
}

void ReduceLROnPlateau::load_state_dict(const StateDict& dict) {
  const std::string owner = name() + ".load_state_dict";
  const double best = detail::read_float64(dict, "best", owner);
  const int64_t num_bad_epochs = detail::read_int64(dict, "num_bad_epochs", owner);
  const int64_t cooldown_counter = detail::read_int64(dict, "cooldown_counter", owner);
  LRScheduler::load_state_dict(dict);
  best_ = best;
  num_bad_epochs_ = num_bad_epochs;
  cooldown_counter_ = cooldown_counter;
}

}  // namespace recur::optim
