// Range checks shared by the optimizers' validate(): recur::Error naming the optimizer, the
// group, the option, the allowed range and the value got.
#pragma once

#include <string>

#include "optim/optimizer.h"

namespace recur::optim::detail {

// lo <= value (< hi when hi_open, else <= hi), finite.
double check_range(const std::string& optimizer, const ParamGroup& group, size_t group_index, const std::string& option,
                   double lo, double hi, bool hi_open = false);
// A flag stored as 0 or 1.
bool check_flag(const std::string& optimizer, const ParamGroup& group, size_t group_index, const std::string& option);

}  // namespace recur::optim::detail
