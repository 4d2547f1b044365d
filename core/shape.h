// Shapes and strides (in elements), with the helpers every layer needs.
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace recur {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;

inline int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

inline Strides contiguous_strides(const Shape& shape) {
  Strides strides(shape.size());
  int64_t step = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = step;
    step *= shape[i];
  }
  return strides;
}

// "[2, 3, 4]"
inline std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

// Wraps a possibly negative axis into [0, rank); throws recur::Error when out of range.
int normalize_axis(int64_t axis, size_t rank);

// NumPy broadcasting of two shapes; throws recur::Error naming both when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b);

}  // namespace recur
