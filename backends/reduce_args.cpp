#include "backends/reduce_args.h"

#include <fmt/ranges.h>

namespace recur {

std::vector<bool> check_reduce_args(std::string_view name, ReduceOp op, const Tensor& out, const Tensor& in,
                                    const std::vector<int>& axes) {
  const size_t rank = in.shape().size();
  std::vector<bool> is_reduced(rank, false);
  for (size_t i = 0; i < axes.size(); ++i) {
    RECUR_CHECK(axes[i] >= 0 && static_cast<size_t>(axes[i]) < rank && (i == 0 || axes[i] > axes[i - 1]),
                "{}: axes must be sorted, unique and in [0, {}), got axis {} for {}", name, rank, axes[i],
                in.describe());
    is_reduced[axes[i]] = true;
  }
  Shape expected = in.shape();
  for (int axis : axes) expected[axis] = 1;
  RECUR_CHECK(out.shape() == expected, "{}: output {} should have shape {} for input {} reduced over axes [{}]", name,
              out.describe(), shape_str(expected), in.describe(), fmt::join(axes, ", "));
  if (out.numel() == 0) return is_reduced;
  int64_t count = 1;
  for (int axis : axes) count *= in.shape()[axis];
  RECUR_CHECK(count > 0 || op == ReduceOp::Sum || op == ReduceOp::Mean,
              "{}: cannot take the {} over zero elements of {} (axes [{}])", name, name, in.describe(),
              fmt::join(axes, ", "));
  RECUR_CHECK(op != ReduceOp::Mean || in.dtype() != DType::Int64,
              "mean: expected a float32 or float64 tensor, got {} (convert it first)", in.describe());
  return is_reduced;
}

}  // namespace recur
