#include "optim/adagrad.h"

#include <cmath>
#include <limits>

#include "optim/fused_loop.h"
#include "optim/options_check.h"

namespace recur::optim {
namespace {

std::map<std::string, double> option_map(const AdagradOptions& options) {
  return {{"lr_decay", options.lr_decay},
          {"initial_accumulator_value", options.initial_accumulator_value},
          {"eps", options.eps}};
}

template <typename T>
void adagrad_update(T* param, const T* grad, T* sum, int64_t n, const ParamGroup& group, int64_t step) {
  // clr in float64, as torch/optim/adagrad.py computes it with Python floats.
  const double clr = group.lr / (1.0 + static_cast<double>(step - 1) * group.option("lr_decay"));
  const T neg_clr = static_cast<T>(-clr), eps = static_cast<T>(group.option("eps"));
  const T weight_decay = static_cast<T>(group.weight_decay);
  const bool decay = group.weight_decay != 0.0;
  detail::for_each_element(n, [&](int64_t i) {
    T g = grad[i];
    if (decay) g = g + weight_decay * param[i];  // g + wd * p
    const T s = sum[i] + g * g;                  // addcmul(g, g, value=1)
    sum[i] = s;
    const T std_dev = std::sqrt(s) + eps;
    param[i] = param[i] + (neg_clr * g) / std_dev;  // addcdiv: p + (-clr * g) / std
  });
}

}  // namespace

Adagrad::Adagrad(std::vector<Tensor> params, AdagradOptions options)
    : Adagrad(std::vector<ParamGroup>{ParamGroup{std::move(params)}}, options) {}

Adagrad::Adagrad(std::vector<ParamGroup> groups, AdagradOptions defaults)
    : Optimizer(defaults.lr, defaults.weight_decay, option_map(defaults)) {
  for (ParamGroup& group : groups) add_param_group(std::move(group));
}

void Adagrad::validate(const ParamGroup& group, size_t group_index) const {
  const double inf = std::numeric_limits<double>::infinity();
  detail::check_range(name(), group, group_index, "lr_decay", 0.0, inf);
  detail::check_range(name(), group, group_index, "initial_accumulator_value", 0.0, inf);
  detail::check_range(name(), group, group_index, "eps", 0.0, inf);
}

std::vector<std::string> Adagrad::buffer_names(const ParamGroup&) const { return {"sum"}; }

void Adagrad::update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& state) {
  detail::dispatch_floating(param.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* sum = buffer(state, "sum", param, group.option("initial_accumulator_value")).data<T>();
    if (param.numel() == 0) return;
    adagrad_update<T>(param.data<T>(), grad.data<T>(), sum, param.numel(), group, state.step);
  });
}

}  // namespace recur::optim
