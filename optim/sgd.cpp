#include "optim/sgd.h"

#include <limits>

#include "optim/fused_loop.h"
#include "optim/options_check.h"

namespace recur::optim {
namespace {

std::map<std::string, double> option_map(const SGDOptions& options) {
  return {{"momentum", options.momentum}, {"dampening", options.dampening}, {"nesterov", options.nesterov ? 1.0 : 0.0}};
}

// One fused pass; the coefficients are rounded to T first, as PyTorch's kernels do.
template <typename T>
void sgd_update(T* param, const T* grad, T* momentum_buffer, int64_t n, const ParamGroup& group, bool first_step) {
  const T weight_decay = static_cast<T>(group.weight_decay), momentum = static_cast<T>(group.option("momentum"));
  const T one_minus_dampening = static_cast<T>(1.0 - group.option("dampening"));
  const T neg_lr = static_cast<T>(-group.lr);
  const bool decay = group.weight_decay != 0.0, nesterov = group.option("nesterov") != 0.0;
  detail::for_each_element(n, [&](int64_t i) {
    T d = grad[i];
    if (decay) d = d + weight_decay * param[i];  // g + wd * p
    if (momentum_buffer != nullptr) {
      // b = g on the first step, else momentum * b + (1 - dampening) * g
      const T b = first_step ? d : momentum_buffer[i] * momentum + one_minus_dampening * d;
      momentum_buffer[i] = b;
      d = nesterov ? d + momentum * b : b;
    }
    param[i] = param[i] + neg_lr * d;  // p - lr * g
  });
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDOptions options)
    : SGD(std::vector<ParamGroup>{ParamGroup{std::move(params)}}, options) {}

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions defaults)
    : Optimizer(defaults.lr, defaults.weight_decay, option_map(defaults)) {
  for (ParamGroup& group : groups) add_param_group(std::move(group));
}

void SGD::validate(const ParamGroup& group, size_t group_index) const {
  const double inf = std::numeric_limits<double>::infinity();
  const double momentum = detail::check_range(name(), group, group_index, "momentum", 0.0, inf);
  const double dampening = detail::check_range(name(), group, group_index, "dampening", -inf, inf);
  const bool nesterov = detail::check_flag(name(), group, group_index, "nesterov");
  RECUR_CHECK(!nesterov || (momentum > 0 && dampening == 0),
              "SGD: parameter group {} has nesterov with momentum {} and dampening {}; Nesterov momentum needs "
              "momentum > 0 and dampening 0",
              group_index, momentum, dampening);
}

std::vector<std::string> SGD::buffer_names(const ParamGroup& group) const {
  if (group.option("momentum") == 0.0) return {};
  return {"momentum_buffer"};
}

void SGD::update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& state) {
  const bool with_momentum = group.option("momentum") != 0.0;
  const bool first_step = with_momentum && !state.buffers.count("momentum_buffer");
  detail::dispatch_floating(param.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* momentum_buffer = with_momentum ? buffer(state, "momentum_buffer", param).data<T>() : nullptr;
    if (param.numel() == 0) return;
    sgd_update<T>(param.data<T>(), grad.data<T>(), momentum_buffer, param.numel(), group, first_step);
  });
}

}  // namespace recur::optim
