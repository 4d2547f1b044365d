#include "examples/lm/cadence.h"

#include <algorithm>
#include <cmath>

namespace recur::lm {

Cadence::Cadence(const TrainOptions& options)
    : steps_(options.steps),
      seconds_(options.minutes * 60.0),
      decay_steps_(options.decay_steps),
      eval_every_(options.eval_every),
      log_every_(options.log_every),
      checkpoint_every_(options.checkpoint_every) {}

bool Cadence::done(const TrainProgress& progress) const {
  return (steps_ > 0 && progress.step >= steps_) || (seconds_ > 0 && progress.elapsed_s >= seconds_);
}

double Cadence::fraction_done(const TrainProgress& progress) const {
  double fraction = 0.0;
  if (steps_ > 0) fraction = static_cast<double>(progress.step) / static_cast<double>(steps_);
  if (seconds_ > 0) fraction = std::max(fraction, progress.elapsed_s / seconds_);
  return std::min(fraction, 1.0);
}

double Cadence::schedule_progress(const TrainProgress& progress) const {
  if (decay_steps_ > 0) {
    return std::min(1.0, static_cast<double>(progress.step) / static_cast<double>(decay_steps_));
  }
  return fraction_done(progress);
}

Due Cadence::due(const TrainProgress& progress, double fraction_before) const {
  const double now = fraction_done(progress);
  Due due;
  if (eval_every_ > 0) {
    due.evaluate = progress.step % eval_every_ == 0;
  } else {
    due.evaluate = now < 1.0 && std::floor(now * kAutoEvals) > std::floor(fraction_before * kAutoEvals);
  }
  if (!due.evaluate) {
    due.log = log_every_ > 0 ? progress.step % log_every_ == 0
                             : std::floor(now * kAutoRows) > std::floor(fraction_before * kAutoRows);
  }
  due.checkpoint =
      (due.evaluate || (checkpoint_every_ > 0 && progress.step % checkpoint_every_ == 0)) && progress.bad_in_a_row == 0;
  return due;
}

bool Cadence::evaluates_after(const TrainProgress& progress) const {
  return eval_every_ > 0 && progress.step % eval_every_ == 0;
}

double Cadence::eta_s(const TrainProgress& progress, double step_seconds) const {
  double eta = -1.0;
  if (steps_ > 0 && step_seconds > 0) eta = static_cast<double>(steps_ - progress.step) * step_seconds;
  if (seconds_ > 0) {
    const double left = std::max(0.0, seconds_ - progress.elapsed_s);
    eta = eta < 0 ? left : std::min(eta, left);
  }
  return eta;
}

}  // namespace recur::lm
