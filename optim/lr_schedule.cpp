#include "optim/lr_schedule.h"

#include <algorithm>

#include "optim/schedule_math.h"

namespace recur::optim {

double LrSchedule::lr_at(int64_t step, double progress) const {
  const double p = std::clamp(progress, 0.0, 1.0);
  double factor = 1.0;
  switch (kind) {
    case ScheduleKind::Constant: break;
    case ScheduleKind::Cosine: factor = cosine_factor(p, min_ratio); break;
    case ScheduleKind::Step:
      factor = step_factor(step_size > 0 ? step_drops(step, step_size) : std::min(2.0, std::floor(3.0 * p)), gamma);
      break;
  }
  if (step < warmup) factor *= warmup_factor(step + 1, warmup);
  return base * factor;
}

}  // namespace recur::optim
