// Stochastic gradient descent with momentum, as PyTorch 1.13's torch.optim.SGD:
//
//   g = grad + weight_decay * p
//   if momentum != 0:
//     b = g                                         on the first step (no dampening)
//     b = momentum * b + (1 - dampening) * g        after
//     g = nesterov ? g + momentum * b : b
//   p = p - lr * g
#pragma once

#include "optim/optimizer.h"

namespace recur::optim {

struct SGDOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;  // needs momentum > 0 and dampening == 0
};

class SGD : public Optimizer {  // ASGD (asgd.h) adds averaging
 public:
  SGD(std::vector<Tensor> params, SGDOptions options = {});
  SGD(std::vector<ParamGroup> groups, SGDOptions defaults = {});
  std::string name() const override { return "SGD"; }

 protected:
  void validate(const ParamGroup& group, size_t group_index) const override;
  std::vector<std::string> buffer_names(const ParamGroup& group) const override;
  OptimizerKind kind() const override { return OptimizerKind::SGD; }
  std::array<std::string, 3> buffer_slots() const override;
  OptimizerCoeffs coefficients(const ParamGroup& group, const ParamState& state, bool first_step) const override;
};

}  // namespace recur::optim
