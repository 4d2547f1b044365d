// A learning rate as a pure function of the step and of the run's progress, for training loops
// that know how far they are (a step budget, a time budget) rather than counting epochs:
//
//   constant  lr = base
//   cosine    lr = base * cosine_factor(p, min_ratio)
//               = base * (m + (1 - m) * (1 + cos(pi * p)) / 2),   m = min_ratio
//   step      lr = base * gamma^floor(step / step_size), or base * gamma^min(2, floor(3 p)) when
//             step_size is 0 (two drops, at a third and two thirds of the progress)
//
// with a linear warm-up on top: lr *= (step + 1) / warmup for step < warmup. p is clamped to
// [0, 1]. The formulas are those of optim/schedule_math.h. Holding no state, it gives the same
// rate for the same (step, progress) however the run was interrupted and resumed.
#pragma once

#include <cstdint>

namespace recur::optim {

enum class ScheduleKind : uint8_t { Constant, Cosine, Step };

struct LrSchedule {
  ScheduleKind kind = ScheduleKind::Constant;
  double base = 1e-3;
  double min_ratio = 0.0;  // cosine: the floor, as a fraction of base
  int64_t warmup = 0;      // steps of linear warm-up
  int64_t step_size = 0;   // step: the period (0 = drops at a third and two thirds)
  double gamma = 0.1;      // step: the factor of each drop

  // step counts from 0 (the step about to be taken); progress is in [0, 1].
  double lr_at(int64_t step, double progress) const;
};

}  // namespace recur::optim
