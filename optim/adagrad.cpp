#include "optim/adagrad.h"

#include <cmath>
#include <limits>

#include "optim/options_check.h"

namespace recur::optim {
namespace {

std::map<std::string, double> option_map(const AdagradOptions& options) {
  return {{"lr_decay", options.lr_decay},
          {"initial_accumulator_value", options.initial_accumulator_value},
          {"eps", options.eps}};
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

std::array<std::string, 3> Adagrad::buffer_slots() const { return {"sum", "", ""}; }

double Adagrad::initial_value(const ParamGroup& group, const std::string&) const {
  return group.option("initial_accumulator_value");
}

// s += g^2; p -= clr g / (sqrt(s) + eps) with clr = lr / (1 + (t - 1) lr_decay) in float64, as
// torch/optim/adagrad.py computes it with Python floats.
OptimizerCoeffs Adagrad::coefficients(const ParamGroup& group, const ParamState& state, bool) const {
  OptimizerCoeffs c;
  c.neg_lr = -(group.lr / (1.0 + static_cast<double>(state.step - 1) * group.option("lr_decay")));
  c.weight_decay = group.weight_decay;
  c.l2 = group.weight_decay != 0.0;
  c.eps = group.option("eps");
  return c;
}

}  // namespace recur::optim
