#include "optim/adam.h"

#include <cmath>
#include <limits>

#include "optim/fused_loop.h"
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

template <typename T> void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n,
                                       const ParamGroup& group, int64_t step, WeightDecayMode mode) {
  const double beta1 = group.option("beta1"), beta2 = group.option("beta2");
  // Scalars in float64, as torch/optim/adam.py computes them with Python floats.
  const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  const double step_size = group.lr / bias_correction1;
  const T neg_step_size = static_cast<T>(-step_size);
  const T bias_correction2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
  const T b1 = static_cast<T>(beta1), one_minus_b1 = static_cast<T>(1.0 - beta1);
  const T b2 = static_cast<T>(beta2), one_minus_b2 = static_cast<T>(1.0 - beta2);
  const T eps = static_cast<T>(group.option("eps"));
  const T weight_decay = static_cast<T>(group.weight_decay);
  const T decay_factor = static_cast<T>(1.0 - group.lr * group.weight_decay);
  const bool l2 = mode == WeightDecayMode::L2 && group.weight_decay != 0.0;
  const bool decoupled = mode == WeightDecayMode::Decoupled;
  detail::for_each_element(n, [&](int64_t i) {
    T p = param[i], g = grad[i];
    if (decoupled) p = p * decay_factor;  // p * (1 - lr * wd)
    if (l2) g = g + weight_decay * p;     // g + wd * p
    const T m = exp_avg[i] * b1 + one_minus_b1 * g;
    const T v = exp_avg_sq[i] * b2 + one_minus_b2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    T v_used = v;
    if (max_exp_avg_sq != nullptr) {  // torch.maximum: NaN wins
      const T old = max_exp_avg_sq[i];
      v_used = (std::isnan(v) || v > old) ? v : old;
      max_exp_avg_sq[i] = v_used;
    }
    const T denom = std::sqrt(v_used) / bias_correction2_sqrt + eps;
    param[i] = p + (neg_step_size * m) / denom;  // addcdiv: p + (-step_size * m) / denom
  });
}

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
  detail::check_range(name(), group, group_index, "beta1", 0.0, 1.0, /*hi_open=*/true);
  detail::check_range(name(), group, group_index, "beta2", 0.0, 1.0, /*hi_open=*/true);
  detail::check_range(name(), group, group_index, "eps", 0.0, inf);
  detail::check_flag(name(), group, group_index, "amsgrad");
}

std::vector<std::string> Adam::buffer_names(const ParamGroup& group) const {
  if (group.option("amsgrad") != 0.0) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"exp_avg", "exp_avg_sq"};
}

void Adam::update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& state) {
  detail::dispatch_floating(param.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* exp_avg = buffer(state, "exp_avg", param).data<T>();
    T* exp_avg_sq = buffer(state, "exp_avg_sq", param).data<T>();
    T* max_exp_avg_sq = group.option("amsgrad") != 0.0 ? buffer(state, "max_exp_avg_sq", param).data<T>() : nullptr;
    if (param.numel() == 0) return;
    adam_update<T>(param.data<T>(), grad.data<T>(), exp_avg, exp_avg_sq, max_exp_avg_sq, param.numel(), group,
                   state.step, mode_);
  });
}

}  // namespace recur::optim
