// Dtype dispatch for the CPU kernels: calls a generic lambda with a TypeTag<T>.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/dtype.h"
#include "core/error.h"

namespace recur::cpu {

template <typename T> struct TypeTag { using type = T; };

// float32 -> float, float64 -> double; any other dtype is an error naming the op.
template <typename F> void dispatch_floating(DType dtype, std::string_view op, const F& f) {
  switch (dtype) {
    case DType::Float32: f(TypeTag<float>{}); return;
    case DType::Float64: f(TypeTag<double>{}); return;
    default: RECUR_FAIL("{}: expected a float32 or float64 tensor on the CPU, got {}", op, dtype);
  }
}

// float32, float64 and int64.
template <typename F> void dispatch_computing(DType dtype, std::string_view op, const F& f) {
  switch (dtype) {
    case DType::Float32: f(TypeTag<float>{}); return;
    case DType::Float64: f(TypeTag<double>{}); return;
    case DType::Int64: f(TypeTag<int64_t>{}); return;
    default: RECUR_FAIL("{}: expected a float32, float64 or int64 tensor on the CPU, got {}", op, dtype);
  }
}

}  // namespace recur::cpu
