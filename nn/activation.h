// Activations: functions beyond autograd/ops.h (relu, tanh, sigmoid live there) and small
// modules wrapping them so that Sequential can chain them.
#pragma once

#include <string>

#include "autograd/ops.h"
#include "nn/module.h"

namespace recur::nn {

// GELU, tanh approximation (PyTorch's approximate='tanh', GPT-2's):
//   y = 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
Tensor gelu(const Tensor& x);
// y = log(1 + e^x), computed as max(x, 0) + log(1 + e^-|x|); dx = g sigmoid(x).
Tensor softplus(const Tensor& x);

class ReLU : public UnaryModule {
 public:
  std::string name() const override { return "ReLU"; }
  Tensor forward(const Tensor& x) override { return relu(x); }
};

class Tanh : public UnaryModule {
 public:
  std::string name() const override { return "Tanh"; }
  Tensor forward(const Tensor& x) override { return tanh(x); }
};

class Sigmoid : public UnaryModule {
 public:
  std::string name() const override { return "Sigmoid"; }
  Tensor forward(const Tensor& x) override { return sigmoid(x); }
};

class GELU : public UnaryModule {
 public:
  std::string name() const override { return "GELU"; }
  std::string extra_repr() const override { return "approximate=tanh"; }
  Tensor forward(const Tensor& x) override { return gelu(x); }
};

class Softplus : public UnaryModule {
 public:
  std::string name() const override { return "Softplus"; }
  Tensor forward(const Tensor& x) override { return softplus(x); }
};

}  // namespace recur::nn
