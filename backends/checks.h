// Argument checks every backend shares. The backend's caller (backends/compute.cpp or autograd)
// allocates outputs, so these catch internal mistakes with a readable message.
#pragma once

#include <string_view>

#include "core/tensor.h"

namespace recur {

inline void check_same_shape(std::string_view op, const Tensor& out, const Tensor& in) {
  RECUR_CHECK(out.shape() == in.shape(), "{}: output {} and input {} differ in shape", op, out.describe(),
              in.describe());
}

inline void check_same_dtype(std::string_view op, const Tensor& out, const Tensor& in) {
  RECUR_CHECK(out.dtype() == in.dtype(), "{}: output {} and input {} differ in dtype", op, out.describe(),
              in.describe());
}

}  // namespace recur
