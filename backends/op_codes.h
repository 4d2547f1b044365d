// The codes of the elementwise and reduction ops, shared by the backend interface
// (backends/backend.h) and the CUDA kernels (backends/cuda/kernels.h, which nvcc compiles): no
// includes beyond <cstdint>, so every backend switches on the same values.
#pragma once

#include <cstdint>

namespace recur {

// y = f(x), elementwise. `Params` are used by the ops that name them.
enum class UnaryOp : uint8_t {
  Neg,         // -x
  Exp,         // e^x
  Log,         // ln x
  Tanh,        // tanh x
  Sigmoid,     // 1 / (1 + e^-x)
  Relu,        // max(x, 0)
  Sqrt,        // sqrt x
  Abs,         // |x|
  Sign,        // -1, 0, 1
  Square,      // x^2
  Reciprocal,  // 1 / x
  PowScalar,   // x^a
  Clamp,       // min(max(x, a), b)
  Affine,      // a*x + b
  GtScalar,    // x > a ? 1 : 0
  InRange,     // a <= x <= b ? 1 : 0 (clamp's derivative mask)
  IsFinite,    // 1 where finite, 0 where inf or nan
};
// out = f(a, b), elementwise on operands already expanded to out's shape.
enum class BinaryOp : uint8_t {
  Add,
  Sub,
  Mul,
  Div,
  Pow,      // a^b
  Maximum,  // max(a, b)
  Minimum,  // min(a, b)
  Eq,
  Gt,
  Ge,
  Lt,
  Le,  // 1 or 0, in out's dtype
};

enum class ReduceOp : uint8_t { Sum, Mean, Max, Min };

// softmax(x)_i = e^(x_i) / sum_j e^(x_j), or its logarithm (log-softmax), along one axis.
enum class SoftmaxKind : uint8_t { Plain, Log };

}  // namespace recur
