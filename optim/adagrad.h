// Adagrad (Duchi et al., 2011), as PyTorch 1.13's torch.optim.Adagrad. At step t (from 1):
//
//   g = grad + weight_decay * p
//   clr = lr / (1 + (t - 1) * lr_decay)
//   sum = sum + g * g                  (sum starts at initial_accumulator_value)
//   p = p - clr * g / (sqrt(sum) + eps)
#pragma once

#include "optim/optimizer.h"

namespace recur::optim {

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0.0;
  double weight_decay = 0.0;
  double initial_accumulator_value = 0.0;
  double eps = 1e-10;
};

class Adagrad final : public Optimizer {
 public:
  Adagrad(std::vector<Tensor> params, AdagradOptions options = {});
  Adagrad(std::vector<ParamGroup> groups, AdagradOptions defaults = {});
  std::string name() const override { return "Adagrad"; }

 protected:
  void validate(const ParamGroup& group, size_t group_index) const override;
  std::vector<std::string> buffer_names(const ParamGroup& group) const override;
  OptimizerKind kind() const override { return OptimizerKind::Adagrad; }
  std::array<std::string, 3> buffer_slots() const override;
  OptimizerCoeffs coefficients(const ParamGroup& group, const ParamState& state, bool first_step) const override;
  double initial_value(const ParamGroup& group, const std::string& buffer) const override;
};

}  // namespace recur::optim
