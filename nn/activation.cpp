// GELU (composed from differentiable ops) and softplus (one recorded op).
#include "nn/activation.h"

#include <cmath>
#include <numbers>

#include "autograd/node.h"
#include "backends/compute.h"

namespace recur::nn {

namespace c = compute;

// y = 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
Tensor gelu(const Tensor& x) {
  const double k = std::sqrt(2.0 / std::numbers::pi);
  Tensor inner = (x + pow(x, 3.0) * 0.044715) * k;
  return x * 0.5 * (tanh(inner) + 1.0);
}

// y = max(x, 0) + log(1 + e^-|x|): dx = g sigmoid(x)
Tensor softplus(const Tensor& x) {
  Tensor decay = c::unary(UnaryOp::Exp, c::unary(UnaryOp::Affine, c::unary(UnaryOp::Abs, x), {-1.0, 0.0}));
  Tensor y = c::binary(BinaryOp::Add, c::unary(UnaryOp::Relu, x),
                       c::unary(UnaryOp::Log, c::unary(UnaryOp::Affine, decay, {1.0, 1.0})));
  return autograd::record("softplus", {x}, y, [x = x.detach()](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{c::binary(BinaryOp::Mul, g[0], c::unary(UnaryOp::Sigmoid, x))};
  });
}

}  // namespace recur::nn
