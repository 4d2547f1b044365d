// Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019), as PyTorch 1.13's
// torch.optim.Adam / AdamW (single-tensor path). At step t (counting from 1):
//
//   Adam:   g = grad + weight_decay * p              (L2 penalty folded into the gradient)
//   AdamW:  p = p * (1 - lr * weight_decay)          (decoupled decay, before the update)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   v_max = max(v_max, v), used in place of v        (amsgrad only)
//   step_size = lr / (1 - beta1^t)
//   denom = sqrt(v) / sqrt(1 - beta2^t) + eps
//   p = p - step_size * m / denom
//
// The scalars (bias corrections, step size) are computed in float64 and rounded to the
// parameter's dtype, as PyTorch does with Python floats.
#pragma once

#include "optim/optimizer.h"

namespace recur::optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool amsgrad = false;
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
};

// How weight decay enters the update: L2 (Adam) or decoupled (AdamW).
enum class WeightDecayMode : uint8_t { L2, Decoupled };

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options = {});
  Adam(std::vector<ParamGroup> groups, AdamOptions defaults = {});
  std::string name() const override { return "Adam"; }

 protected:
  // Adds no groups: the derived constructor does, so that messages carry its name().
  Adam(const AdamOptions& defaults, WeightDecayMode mode);
  void validate(const ParamGroup& group, size_t group_index) const override;
  std::vector<std::string> buffer_names(const ParamGroup& group) const override;
  OptimizerKind kind() const override { return OptimizerKind::Adam; }
  std::array<std::string, 3> buffer_slots() const override;
  OptimizerCoeffs coefficients(const ParamGroup& group, const ParamState& state, bool first_step) const override;

 private:
  WeightDecayMode mode_;
};

class AdamW final : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions options = {});
  AdamW(std::vector<ParamGroup> groups, AdamWOptions defaults = {});
  std::string name() const override { return "AdamW"; }
};

}  // namespace recur::optim
