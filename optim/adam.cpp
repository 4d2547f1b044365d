#include "optim/adam.h"

#include <cmath>
#include <limits>

#include "optim/options_check.h"

namespace recur::optim {
namespace {

std::map<std::string, double> option_map(const AdamOptions& options) {
  return {{"beta1", options.beta1},
          {"beta2", options.beta2},
          {"eps", options.eps},
          {"amsgrad", options.amsgrad ? 1.0 : 0.0}};
}

AdamOptions as_adam(const AdamWOptions& o) { return {o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.amsgrad}; }

}  // namespace

Adam::Adam(std::vector<Tensor> params, AdamOptions options)
    : Adam(std::vector<ParamGroup>{ParamGroup{std::move(params)}}, options) {}

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions defaults) : Adam(defaults, WeightDecayMode::L2) {
  for (ParamGroup& group : groups) add_param_group(std::move(group));
}

Adam::Adam(const AdamOptions& defaults, WeightDecayMode mode)
    : Optimizer(defaults.lr, defaults.weight_decay, option_map(defaults)), mode_(mode) {}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options)
    : AdamW(std::vector<ParamGroup>{ParamGroup{std::move(params)}}, options) {}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions defaults)
    : Adam(as_adam(defaults), WeightDecayMode::Decoupled) {
  for (ParamGroup& group : groups) add_param_group(std::move(group));
}

void Adam::validate(const ParamGroup& group, size_t group_index) const {
  const double inf = std::numeric_limits<double>::infinity();
  detail::check_range(name(), group, group_index, "beta1", 0.0, 1.0, detail::UpperBound::Open);
  detail::check_range(name(), group, group_index, "beta2", 0.0, 1.0, detail::UpperBound::Open);
  detail::check_range(name(), group, group_index, "eps", 0.0, inf);
  detail::check_flag(name(), group, group_index, "amsgrad");
}

std::vector<std::string> Adam::buffer_names(const ParamGroup& group) const {
  if (group.option("amsgrad") != 0.0) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"exp_avg", "exp_avg_sq"};
}

std::array<std::string, 3> Adam::buffer_slots() const { return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}; }

// m = beta1 m + (1 - beta1) g,  v = beta2 v + (1 - beta2) g^2  (v = max(v_max, v) with amsgrad)
// p += -(lr / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + eps), with g += wd p (Adam) or
// p *= 1 - lr wd first (AdamW). The scalars are float64, as torch/optim/adam.py's Python floats.
OptimizerCoeffs Adam::coefficients(const ParamGroup& group, const ParamState& state, bool) const {
  const double beta1 = group.option("beta1"), beta2 = group.option("beta2");
  const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(state.step));
  const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(state.step));
  OptimizerCoeffs c;
  c.neg_lr = -(group.lr / bias_correction1);
  c.bias_correction2_sqrt = std::sqrt(bias_correction2);
  c.beta1 = beta1;
  c.one_minus_beta1 = 1.0 - beta1;
  c.beta2 = beta2;
  c.one_minus_beta2 = 1.0 - beta2;
  c.eps = group.option("eps");
  c.weight_decay = group.weight_decay;
  c.decay_factor = 1.0 - group.lr * group.weight_decay;
  c.l2 = mode_ == WeightDecayMode::L2 && group.weight_decay != 0.0;
  c.decoupled = mode_ == WeightDecayMode::Decoupled;
  return c;
}

}  // namespace recur::optim
