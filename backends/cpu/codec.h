// How each dtype is stored and computed with on the CPU: float16 and bfloat16 are stored as
// 16-bit patterns and computed as float (core/dtype.h converts, rounding to nearest even).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "backends/dtype_dispatch.h"
#include "backends/elementwise_math.h"
#include "core/dtype.h"

namespace recur::cpu {

template <DType D> struct Codec;
template <> struct Codec<DType::Float32> {
  using Storage = float;
  using Value = float;
  static Value load(Storage s) { return s; }
  static Storage store(Value v) { return v; }
};
template <> struct Codec<DType::Float64> {
  using Storage = double;
  using Value = double;
  static Value load(Storage s) { return s; }
  static Storage store(Value v) { return v; }
};
template <> struct Codec<DType::Float16> {
  using Storage = uint16_t;
  using Value = float;
  static Value load(Storage s) { return half_to_float(s); }
  static Storage store(Value v) { return float_to_half(v); }
};
template <> struct Codec<DType::BFloat16> {
  using Storage = uint16_t;
  using Value = float;
  static Value load(Storage s) { return bfloat16_to_float(s); }
  static Storage store(Value v) { return float_to_bfloat16(v); }
};
template <> struct Codec<DType::Int64> {
  using Storage = int64_t;
  using Value = int64_t;
  static Value load(Storage s) { return s; }
  static Storage store(Value v) { return v; }
};

// Value conversion (floating to int64 truncates, saturates, maps NaN to 0): written once for
// both devices in backends/elementwise_math.h.
using elementwise_math::convert_value;

// Calls f(std::integral_constant<DType, D>{}) for the runtime dtype.
template <typename F> void dispatch_any(DType dtype, const F& f) { dispatch_dtype(dtype, f); }

}  // namespace recur::cpu
