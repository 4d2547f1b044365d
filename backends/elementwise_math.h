// The per-element math of the unary and binary ops, written once for both devices: the CPU
// backend instantiates each formula into its own loop (backends/cpu/elementwise.cpp, so every
// loop stays a plain vectorisable loop), the CUDA backend switches on the op inside one kernel
// (backends/cuda/elementwise.cu). Standard headers only, so nvcc compiles it as is; the
// functions of std:: used here also exist in CUDA device code.
//
// Adding an op: its code in backends/op_codes.h, its formula below and its case in `visit`.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "backends/op_codes.h"

#if defined(__CUDACC__)
#define RECUR_ELEMENTWISE_FN __host__ __device__ __forceinline__
#else
#define RECUR_ELEMENTWISE_FN inline
#endif

namespace recur::elementwise_math {

template <auto> inline constexpr bool kNoFormula = false;

// max/min that return NaN when either operand is NaN (as PyTorch's maximum/minimum and max
// reductions do): a NaN first operand wins, and a NaN second operand fails both comparisons.
template <typename T> RECUR_ELEMENTWISE_FN T nan_max(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (a != a) return a;
  }
  return a > b ? a : b;
}
template <typename T> RECUR_ELEMENTWISE_FN T nan_min(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (a != a) return a;
  }
  return a < b ? a : b;
}

// A reduction's starting value and combining step, for the CPU's and CUDA's reductions alike:
// sum and mean add (mean divides by the count at the end); max and min combine as
// nan_max(x, acc) and nan_min(x, acc), so a NaN anywhere wins.
template <ReduceOp Op, typename T> RECUR_ELEMENTWISE_FN T reduce_identity() {
  if constexpr (Op == ReduceOp::Sum || Op == ReduceOp::Mean) {
    return T(0);
  } else if constexpr (std::is_floating_point_v<T>) {
    return Op == ReduceOp::Max ? -static_cast<T>(INFINITY) : static_cast<T>(INFINITY);
  } else {
    static_assert(std::is_same_v<T, int64_t>, "reductions run on floating point or int64");
    return Op == ReduceOp::Max ? INT64_MIN : INT64_MAX;
  }
}
template <ReduceOp Op, typename T> RECUR_ELEMENTWISE_FN T reduce_combine(T acc, T x) {
  if constexpr (Op == ReduceOp::Sum || Op == ReduceOp::Mean) {
    return acc + x;
  } else if constexpr (Op == ReduceOp::Max) {
    return nan_max(x, acc);
  } else {
    return nan_min(x, acc);
  }
}

// Value conversion. Floating to int64 truncates toward zero, saturates at the int64 range and
// maps NaN to 0 (a plain cast would be undefined there).
template <typename To, typename From> RECUR_ELEMENTWISE_FN To convert_value(From value) {
  if constexpr (std::is_same_v<To, int64_t> && std::is_floating_point_v<From>) {
    if (value != value) return 0;
    if (value >= static_cast<From>(9.2233720368547758e18)) return INT64_MAX;
    if (value <= static_cast<From>(-9.2233720368547758e18)) return INT64_MIN;
    return static_cast<int64_t>(value);
  } else {
    return static_cast<To>(value);
  }
}

// argmax's rule, scanning a lane in order: `value` replaces `best` when larger, so the first
// maximum wins; a NaN counts as larger than everything, so the first NaN wins (as in PyTorch).
template <typename T> RECUR_ELEMENTWISE_FN bool argmax_better(T value, T best) {
  bool better = value > best;
  if constexpr (std::is_floating_point_v<T>) better = better || (value != value && best == best);
  return better;
}

// y = f(x) with the op's parameters a and b (UnaryParams; unused by most ops).
template <UnaryOp kOp, typename T> RECUR_ELEMENTWISE_FN T unary(T x, [[maybe_unused]] T a, [[maybe_unused]] T b) {
  if constexpr (kOp == UnaryOp::Neg) {
    return -x;
  } else if constexpr (kOp == UnaryOp::Exp) {
    return std::exp(x);
  } else if constexpr (kOp == UnaryOp::Log) {
    return std::log(x);
  } else if constexpr (kOp == UnaryOp::Tanh) {
    return std::tanh(x);
  } else if constexpr (kOp == UnaryOp::Sigmoid) {
    // 1 / (1 + e^-x): e^-x overflows to inf for very negative x, giving 0 as it should.
    return T(1) / (T(1) + std::exp(-x));
  } else if constexpr (kOp == UnaryOp::Relu) {
    return x < T(0) ? T(0) : x;  // keeps NaN
  } else if constexpr (kOp == UnaryOp::Sqrt) {
    return std::sqrt(x);
  } else if constexpr (kOp == UnaryOp::Abs) {
    return std::abs(x);
  } else if constexpr (kOp == UnaryOp::Sign) {
    return static_cast<T>((x > T(0)) - (x < T(0)));
  } else if constexpr (kOp == UnaryOp::Square) {
    return x * x;
  } else if constexpr (kOp == UnaryOp::Reciprocal) {
    return T(1) / x;
  } else if constexpr (kOp == UnaryOp::PowScalar) {
    // x^2 and x^1 exactly (a loop over a constant exponent hoists these tests).
    if (a == T(2)) return x * x;
    if (a == T(1)) return x;
    return std::pow(x, a);
  } else if constexpr (kOp == UnaryOp::Clamp) {
    return x < a ? a : (x > b ? b : x);  // NaN stays NaN
  } else if constexpr (kOp == UnaryOp::Affine) {
    return a * x + b;
  } else if constexpr (kOp == UnaryOp::GtScalar) {
    return x > a ? T(1) : T(0);
  } else if constexpr (kOp == UnaryOp::InRange) {
    return a <= x && x <= b ? T(1) : T(0);
  } else if constexpr (kOp == UnaryOp::IsFinite) {
    return std::isfinite(x) ? T(1) : T(0);
  } else {
    static_assert(kNoFormula<kOp>, "a UnaryOp without a formula");
  }
}

// Division and powers are defined for floating types only; the backends reject int64 operands.
template <BinaryOp kOp> inline constexpr bool kFloatingOnly = kOp == BinaryOp::Div || kOp == BinaryOp::Pow;

// out = f(x, y); comparisons give 1 or 0 in T.
template <BinaryOp kOp, typename T> RECUR_ELEMENTWISE_FN T binary(T x, T y) {
  if constexpr (kFloatingOnly<kOp> && !std::is_floating_point_v<T>) {
    return T(0);  // rejected before any loop runs
  } else if constexpr (kOp == BinaryOp::Add) {
    return x + y;
  } else if constexpr (kOp == BinaryOp::Sub) {
    return x - y;
  } else if constexpr (kOp == BinaryOp::Mul) {
    return x * y;
  } else if constexpr (kOp == BinaryOp::Div) {
    return x / y;
  } else if constexpr (kOp == BinaryOp::Pow) {
    return std::pow(x, y);
  } else if constexpr (kOp == BinaryOp::Maximum) {
    return nan_max(x, y);
  } else if constexpr (kOp == BinaryOp::Minimum) {
    return nan_min(x, y);
  } else if constexpr (kOp == BinaryOp::Eq) {
    return x == y ? T(1) : T(0);
  } else if constexpr (kOp == BinaryOp::Gt) {
    return x > y ? T(1) : T(0);
  } else if constexpr (kOp == BinaryOp::Ge) {
    return x >= y ? T(1) : T(0);
  } else if constexpr (kOp == BinaryOp::Lt) {
    return x < y ? T(1) : T(0);
  } else if constexpr (kOp == BinaryOp::Le) {
    return x <= y ? T(1) : T(0);
  } else {
    static_assert(kNoFormula<kOp>, "a BinaryOp without a formula");
  }
}

// A run-time op code as a compile-time one: f(OpTag<op>{}), whose `value` names the formula to
// instantiate. The one switch over every code of each enum.
template <auto kOp> struct OpTag { static constexpr auto value = kOp; };

template <typename F> RECUR_ELEMENTWISE_FN decltype(auto) visit(UnaryOp op, F&& f) {
  switch (op) {
    case UnaryOp::Neg: return f(OpTag<UnaryOp::Neg>{});
    case UnaryOp::Exp: return f(OpTag<UnaryOp::Exp>{});
    case UnaryOp::Log: return f(OpTag<UnaryOp::Log>{});
    case UnaryOp::Tanh: return f(OpTag<UnaryOp::Tanh>{});
    case UnaryOp::Sigmoid: return f(OpTag<UnaryOp::Sigmoid>{});
    case UnaryOp::Relu: return f(OpTag<UnaryOp::Relu>{});
    case UnaryOp::Sqrt: return f(OpTag<UnaryOp::Sqrt>{});
    case UnaryOp::Abs: return f(OpTag<UnaryOp::Abs>{});
    case UnaryOp::Sign: return f(OpTag<UnaryOp::Sign>{});
    case UnaryOp::Square: return f(OpTag<UnaryOp::Square>{});
    case UnaryOp::Reciprocal: return f(OpTag<UnaryOp::Reciprocal>{});
    case UnaryOp::PowScalar: return f(OpTag<UnaryOp::PowScalar>{});
    case UnaryOp::Clamp: return f(OpTag<UnaryOp::Clamp>{});
    case UnaryOp::Affine: return f(OpTag<UnaryOp::Affine>{});
    case UnaryOp::GtScalar: return f(OpTag<UnaryOp::GtScalar>{});
    case UnaryOp::InRange: return f(OpTag<UnaryOp::InRange>{});
    case UnaryOp::IsFinite: return f(OpTag<UnaryOp::IsFinite>{});
  }
  return f(OpTag<UnaryOp::Neg>{});  // not reached: every code has its case
}

template <typename F> RECUR_ELEMENTWISE_FN decltype(auto) visit(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::Add: return f(OpTag<BinaryOp::Add>{});
    case BinaryOp::Sub: return f(OpTag<BinaryOp::Sub>{});
    case BinaryOp::Mul: return f(OpTag<BinaryOp::Mul>{});
    case BinaryOp::Div: return f(OpTag<BinaryOp::Div>{});
    case BinaryOp::Pow: return f(OpTag<BinaryOp::Pow>{});
    case BinaryOp::Maximum: return f(OpTag<BinaryOp::Maximum>{});
    case BinaryOp::Minimum: return f(OpTag<BinaryOp::Minimum>{});
    case BinaryOp::Eq: return f(OpTag<BinaryOp::Eq>{});
    case BinaryOp::Gt: return f(OpTag<BinaryOp::Gt>{});
    case BinaryOp::Ge: return f(OpTag<BinaryOp::Ge>{});
    case BinaryOp::Lt: return f(OpTag<BinaryOp::Lt>{});
    case BinaryOp::Le: return f(OpTag<BinaryOp::Le>{});
  }
  return f(OpTag<BinaryOp::Add>{});  // not reached: every code has its case
}

}  // namespace recur::elementwise_math
