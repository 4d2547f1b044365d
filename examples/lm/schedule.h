// The learning rate of a training run as a function of its step and progress.
//
// progress p in [0, 1] is the fraction of the run done: step / --steps, or the training time
// over the --minutes budget (the larger of the two when both are given), so that a time-bounded
// run decays its learning rate over the time it actually has; or step / --decay-steps when that
// is given (a run stopped early by --steps and resumed then follows the same schedule).
//
//   constant  lr = base
//   cosine    lr = base * (m + (1 - m) * (1 + cos(pi * p)) / 2),   m = --min-lr (a fraction)
//   step      lr = base * gamma^floor(step / step_size), or base * gamma^min(2, floor(3 p)) when
//             step_size is 0 (two drops, at a third and two thirds of the run)
// with a linear warm-up on top: lr *= (step + 1) / warmup for step < warmup.
#pragma once

#include <cstdint>
#include <string>

namespace recur::lm {

struct LrSchedule {
  std::string kind = "constant";  // constant, cosine, step
  double base = 1e-3;
  double min_ratio = 0.0;
  int64_t warmup = 0;
  int64_t step_size = 0;
  double gamma = 0.1;

  // step counts from 0 (the step about to be taken).
  double at(int64_t step, double progress) const;
};

}  // namespace recur::lm
