// Range checks shared by the optimizers' validate(): recur::Error naming the optimizer, the
// group, the option, the allowed range and the value got.
#pragma once

#include <cstdint>
#include <string>

#include "optim/optimizer.h"

namespace recur::optim::detail {

// Whether a range holds its upper bound: [lo, hi] or [lo, hi).
enum class UpperBound : uint8_t { Closed, Open };

// lo <= value <= hi (value < hi for UpperBound::Open), finite.
double check_range(const std::string& optimizer, const ParamGroup& group, size_t group_index, const std::string& option,
                   double lo, double hi, UpperBound upper = UpperBound::Closed);
// A flag stored as 0 or 1.
bool check_flag(const std::string& optimizer, const ParamGroup& group, size_t group_index, const std::string& option);

}  // namespace recur::optim::detail
