// RMSprop (Hinton's lecture 6e; the centered form from Graves, 2013), as PyTorch 1.13's
// torch.optim.RMSprop:
//
//   g = grad + weight_decay * p
//   s = alpha * s + (1 - alpha) * g * g                     (square_avg)
//   centered: a = alpha * a + (1 - alpha) * g               (grad_avg)
//             avg = sqrt(s - a * a) + eps
//   else:     avg = sqrt(s) + eps
//   momentum > 0: b = momentum * b + g / avg;  p = p - lr * b
//   else:         p = p - lr * g / avg
// Buffers start at zero.
#pragma once

#include "optim/optimizer.h"

namespace recur::optim {

struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double momentum = 0.0;
  bool centered = false;
};

class RMSprop final : public Optimizer {
 public:
  RMSprop(std::vector<Tensor> params, RMSpropOptions options = {});
  RMSprop(std::vector<ParamGroup> groups, RMSpropOptions defaults = {});
  std::string name() const override { return "RMSprop"; }

 protected:
  void validate(const ParamGroup& group, size_t group_index) const override;
  std::vector<std::string> buffer_names(const ParamGroup& group) const override;
  OptimizerKind kind() const override { return OptimizerKind::RMSprop; }
  std::array<std::string, 3> buffer_slots() const override;
  OptimizerCoeffs coefficients(const ParamGroup& group, const ParamState& state, bool first_step) const override;
};

}  // namespace recur::optim
