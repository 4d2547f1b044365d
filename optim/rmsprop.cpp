#include "optim/rmsprop.h"

#include <cmath>
#include <limits>

#include "optim/options_check.h"

namespace recur::optim {
namespace {

std::map<std::string, double> option_map(const RMSpropOptions& options) {
  return {{"alpha", options.alpha},
          {"eps", options.eps},
          {"momentum", options.momentum},
          {"centered", options.centered ? 1.0 : 0.0}};
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

std::array<std::string, 3> RMSprop::buffer_slots() const { return {"square_avg", "grad_avg", "momentum_buffer"}; }

// s = alpha s + (1 - alpha) g^2; avg = sqrt(s - a^2) + eps with a = alpha a + (1 - alpha) g when
// centered, else sqrt(s) + eps; p -= lr g / avg, or with momentum b = momentum b + g / avg and
// p -= lr b.
OptimizerCoeffs RMSprop::coefficients(const ParamGroup& group, const ParamState&, bool) const {
  OptimizerCoeffs c;
  c.neg_lr = -group.lr;
  c.weight_decay = group.weight_decay;
  c.l2 = group.weight_decay != 0.0;
  c.beta2 = group.option("alpha");
  c.one_minus_beta2 = 1.0 - group.option("alpha");
  c.eps = group.option("eps");
  c.momentum = group.option("momentum");
  return c;
}

}  // namespace recur::optim
