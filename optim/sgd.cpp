#include "optim/sgd.h"

#include <limits>

#include "optim/options_check.h"

namespace recur::optim {
namespace {

std::map<std::string, double> option_map(const SGDOptions& options) {
  return {{"momentum", options.momentum}, {"dampening", options.dampening}, {"nesterov", options.nesterov ? 1.0 : 0.0}};
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

std::array<std::string, 3> SGD::buffer_slots() const { return {"momentum_buffer", "", ""}; }

// p -= lr * d with d = g + wd * p, then momentum: b = g on the first step, else
// momentum * b + (1 - dampening) * d; d = nesterov ? d + momentum * b : b.
OptimizerCoeffs SGD::coefficients(const ParamGroup& group, const ParamState&, bool first_step) const {
  OptimizerCoeffs c;
  c.neg_lr = -group.lr;
  c.weight_decay = group.weight_decay;
  c.l2 = group.weight_decay != 0.0;
  c.momentum = group.option("momentum");
  c.one_minus_dampening = 1.0 - group.option("dampening");
  c.nesterov = group.option("nesterov") != 0.0;
  c.first_step = first_step;
  return c;
}

}  // namespace recur::optim
