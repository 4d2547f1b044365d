// Argument checks of the CPU kernels: the shared ones (backends/checks.h) and the device check.
#pragma once

#include <string_view>

#include "backends/checks.h"
#include "core/tensor.h"

namespace recur::cpu {

using ::recur::check_same_dtype;
using ::recur::check_same_shape;

inline void check_cpu(std::string_view op, const Tensor& t) {
  RECUR_CHECK(t.device().is_cpu(), "{}: the CPU backend got a tensor on another device: {}", op, t.describe());
}

}  // namespace recur::cpu
