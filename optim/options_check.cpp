#include "optim/options_check.h"

#include <cmath>
#include <limits>

namespace recur::optim::detail {

double check_range(const std::string& optimizer, const ParamGroup& group, size_t group_index, const std::string& option,
                   double lo, double hi, UpperBound upper) {
  const bool hi_open = upper == UpperBound::Open;
  const double value = group.option(option);
  const bool ok = std::isfinite(value) && value >= lo && (hi_open ? value < hi : value <= hi);
  if (!ok) {
    const std::string range =
        std::isinf(hi) ? fmt::format(">= {}", lo) : fmt::format("in [{}, {}{}", lo, hi, hi_open ? ")" : "]");
    RECUR_FAIL("{}: parameter group {} has {} = {}, expected {}", optimizer, group_index, option, value, range);
  }
  return value;
}

bool check_flag(const std::string& optimizer, const ParamGroup& group, size_t group_index, const std::string& option) {
  const double value = group.option(option);
  RECUR_CHECK(value == 0.0 || value == 1.0, "{}: parameter group {} has {} = {}, expected 0 (false) or 1 (true)",
              optimizer, group_index, option, value);
  return value == 1.0;
}

}  // namespace recur::optim::detail
