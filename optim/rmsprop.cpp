#include "optim/rmsprop.h"

#include <cmath>
#include <limits>

#include "optim/fused_loop.h"
#include "optim/options_check.h"

namespace recur::optim {
namespace {

std::map<std::string, double> option_map(const RMSpropOptions& options) {
  return {{"alpha", options.alpha},
          {"eps", options.eps},
          {"momentum", options.momentum},
          {"centered", options.centered ? 1.0 : 0.0}};
}

template <typename T> void rmsprop_update(T* param, const T* grad, T* square_avg, T* grad_avg, T* momentum_buffer,
                                          int64_t n, const ParamGroup& group) {
  const T alpha = static_cast<T>(group.option("alpha")), one_minus_alpha = static_cast<T>(1.0 - group.option("alpha"));
  const T eps = static_cast<T>(group.option("eps")), momentum = static_cast<T>(group.option("momentum"));
  const T weight_decay = static_cast<T>(group.weight_decay), neg_lr = static_cast<T>(-group.lr);
  const bool decay = group.weight_decay != 0.0;
  detail::for_each_element(n, [&](int64_t i) {
    T g = grad[i];
    if (decay) g = g + weight_decay * param[i];                   // g + wd * p
    const T s = square_avg[i] * alpha + one_minus_alpha * g * g;  // addcmul: s + ((1 - alpha) * g) * g
    square_avg[i] = s;
    T avg;
    if (grad_avg != nullptr) {
      const T a = grad_avg[i] * alpha + one_minus_alpha * g;
      grad_avg[i] = a;
      avg = std::sqrt(s + (-a) * a);  // addcmul(a, a, value=-1), then sqrt
    } else {
      avg = std::sqrt(s);
    }
    avg = avg + eps;
    if (momentum_buffer != nullptr) {
      const T b = momentum_buffer[i] * momentum + g / avg;
      momentum_buffer[i] = b;
      param[i] = param[i] + neg_lr * b;  // p - lr * b
    } else {
      param[i] = param[i] + (neg_lr * g) / avg;  // addcdiv: p + (-lr * g) / avg
    }
  });
}

}  // namespace

RMSprop::RMSprop(std::vector<Tensor> params, RMSpropOptions options)
    : RMSprop(std::vector<ParamGroup>{ParamGroup{std::move(params)}}, options) {}

RMSprop::RMSprop(std::vector<ParamGroup> groups, RMSpropOptions defaults)
    : Optimizer(defaults.lr, defaults.weight_decay, option_map(defaults)) {
  for (ParamGroup& group : groups) add_param_group(std::move(group));
}

void RMSprop::validate(const ParamGroup& group, size_t group_index) const {
  const double inf = std::numeric_limits<double>::infinity();
  detail::check_range(name(), group, group_index, "alpha", 0.0, inf);
  detail::check_range(name(), group, group_index, "eps", 0.0, inf);
  detail::check_range(name(), group, group_index, "momentum", 0.0, inf);
  detail::check_flag(name(), group, group_index, "centered");
}

std::vector<std::string> RMSprop::buffer_names(const ParamGroup& group) const {
  std::vector<std::string> names = {"square_avg"};
  if (group.option("momentum") > 0.0) names.push_back("momentum_buffer");
  if (group.option("centered") != 0.0) names.push_back("grad_avg");
  return names;
}

void RMSprop::update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& state) {
  detail::dispatch_floating(param.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* square_avg = buffer(state, "square_avg", param).data<T>();
    T* grad_avg = group.option("centered") != 0.0 ? buffer(state, "grad_avg", param).data<T>() : nullptr;
    T* momentum_buffer = group.option("momentum") > 0.0 ? buffer(state, "momentum_buffer", param).data<T>() : nullptr;
    if (param.numel() == 0) return;
    rmsprop_update<T>(param.data<T>(), grad.data<T>(), square_avg, grad_avg, momentum_buffer, param.numel(), group);
  });
}

}  // namespace recur::optim
