#include "optim/nonmono.h"

#include <limits>

#include "core/error.h"

namespace recur::optim {

bool nonmono_triggered(const std::vector<double>& previous, double loss, int64_t nonmono) {
  RECUR_CHECK(nonmono >= 1, "the non-monotone interval must be >= 1, got {}", nonmono);
  const auto t = static_cast<int64_t>(previous.size());
  if (t <= nonmono) return false;
  double best = std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < t - nonmono; ++i) {
    const double earlier = previous[static_cast<size_t>(i)];
    if (earlier < best) best = earlier;  // a NaN is no minimum
  }
  return loss > best;
}

int64_t nonmono_trigger_index(const std::vector<double>& losses, int64_t nonmono) {
  std::vector<double> previous;
  for (size_t i = 0; i < losses.size(); ++i) {
    if (nonmono_triggered(previous, losses[i], nonmono)) return static_cast<int64_t>(i);
    previous.push_back(losses[i]);
  }
  return -1;
}

}  // namespace recur::optim
