// The argument checks every backend's reduce() shares: axes sorted, unique and in range, the
// output shaped like the input with size 1 on those axes, no max/min over zero elements, no
// mean of int64. Returns, per input axis, whether it is reduced.
#pragma once

#include <string_view>
#include <vector>

#include "backends/backend.h"

namespace recur {

std::vector<bool> check_reduce_args(std::string_view name, ReduceOp op, const Tensor& out, const Tensor& in,
                                    const std::vector<int>& axes);

}  // namespace recur
