#include "examples/lm/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace recur::lm {

double LrSchedule::at(int64_t step, double progress) const {
  const double p = std::clamp(progress, 0.0, 1.0);
  double factor = 1.0;
  if (kind == "cosine") {
    factor = min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + std::cos(std::numbers::pi * p));
  } else if (kind == "step") {
    const double drops = step_size > 0 ? std::floor(static_cast<double>(step) / static_cast<double>(step_size))
                                       : std::min(2.0, std::floor(3.0 * p));
    factor = std::pow(gamma, drops);
  } else {
    RECUR_CHECK(kind == "constant", "unknown learning-rate schedule '{}' (expected constant, cosine or step)", kind);
  }
  if (step < warmup) factor *= static_cast<double>(step + 1) / static_cast<double>(warmup);
  return base * factor;
}

}  // namespace recur::lm
