// The formulas of the learning-rate schedules, written once: pure functions of the position in
// the schedule, used by the epoch-driven schedulers (optim/schedulers.h) and by the step- and
// progress-driven LrSchedule (optim/lr_schedule.h). Each returns the multiplier of the base
// learning rate.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

namespace recur::optim {

// Half a cosine from 1 down to min_ratio over progress p in [0, 1]:
//   min_ratio + (1 - min_ratio) * (1 + cos(pi * p)) / 2
inline double cosine_factor(double progress, double min_ratio) {
  return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

// A decay by gamma at each of `drops` drops: gamma^drops.
inline double step_factor(double drops, double gamma) { return std::pow(gamma, drops); }

// The drops of a step decay by `step` with one every `step_size` steps: floor(step / step_size).
inline double step_drops(int64_t step, int64_t step_size) {
  return std::floor(static_cast<double>(step) / static_cast<double>(step_size));
}

// A linear warm-up after `done` of `warmup_steps` steps: done / warmup_steps.
inline double warmup_factor(int64_t done, int64_t warmup_steps) {
  return static_cast<double>(done) / static_cast<double>(warmup_steps);
}

}  // namespace recur::optim
