// The loop every fused optimizer update runs: one pass over a parameter's elements, on all
// OpenMP threads when the tensor is large enough to pay for the fork.
#pragma once

#include <cstdint>

#include "core/error.h"
#include "core/tensor.h"

namespace recur::optim::detail {

constexpr int64_t kParallelThreshold = 1 << 15;  // elements

template <typename Body> void for_each_element(int64_t n, const Body& body) {
#pragma omp parallel for schedule(static) if (n >= kParallelThreshold)
  for (int64_t i = 0; i < n; ++i) body(i);
}

// Runs fn(T{}) with T = float or double, the parameter's dtype.
template <typename Fn> void dispatch_floating(DType dtype, const Fn& fn) {
  switch (dtype) {
    case DType::Float32: fn(float{}); return;
    case DType::Float64: fn(double{}); return;
    default: RECUR_FAIL("optimizers update float32 or float64 parameters, got {}", dtype);
  }
}

}  // namespace recur::optim::detail
