#include "optim/optimizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "autograd/grad_mode.h"
#include "backends/compute.h"
#include "optim/state_values.h"

namespace recur::optim {
namespace {

std::string known_options(const std::map<std::string, double>& defaults) {
  std::string names;
  for (const auto& [name, value] : defaults) names += (names.empty() ? "" : ", ") + name;
  return names.empty() ? "none" : names;
}

// A contiguous copy of `tensor` on `device` in its own dtype.
Tensor copy_to(const Tensor& tensor, Device device) {
  Tensor copy = compute::convert(tensor.detach(), tensor.dtype(), device);
  return copy.is_contiguous() ? copy : compute::contiguous(copy);
}

}  // namespace

double ParamGroup::option(const std::string& name) const {
  const auto it = options.find(name);
  RECUR_CHECK(it != options.end(), "parameter group has no option '{}'", name);
  return it->second;
}

// ---- groups -----------------------------------------------------------------------------

Optimizer::Optimizer(double default_lr, double default_weight_decay, std::map<std::string, double> default_options)
    : default_lr_(default_lr),
      default_weight_decay_(default_weight_decay),
      default_options_(std::move(default_options)) {}

void Optimizer::add_param_group(ParamGroup group) {
  const size_t index = groups_.size();
  if (std::isnan(group.lr)) group.lr = default_lr_;
  if (std::isnan(group.weight_decay)) group.weight_decay = default_weight_decay_;
  for (const auto& [option, value] : group.options) {
    RECUR_CHECK(default_options_.count(option), "{}: unknown option '{}' in parameter group {} ({} knows {})", name(),
                option, index, name(), known_options(default_options_));
  }
  for (const auto& [option, value] : default_options_) group.options.emplace(option, value);

  RECUR_CHECK(std::isfinite(group.lr) && group.lr >= 0, "{}: parameter group {} has lr {}, expected >= 0", name(),
              index, group.lr);
  RECUR_CHECK(std::isfinite(group.weight_decay) && group.weight_decay >= 0,
              "{}: parameter group {} has weight_decay {}, expected >= 0", name(), index, group.weight_decay);
  std::set<const TensorImpl*> seen;
  for (const ParamGroup& other : groups_) {
    for (const Tensor& param : other.params) seen.insert(param.impl_ptr().get());
  }
  for (size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& param = group.params[i];
    RECUR_CHECK(param.defined(), "{}: parameter {} of group {} is undefined", name(), i, index);
    RECUR_CHECK(param.dtype() == DType::Float32 || param.dtype() == DType::Float64,
                "{}: parameter {} of group {} is {}, expected float32 or float64", name(), i, index, param.describe());
    RECUR_CHECK(seen.insert(param.impl_ptr().get()).second,
                "{}: parameter {} of group {} ({}) appears more than once among the parameter groups", name(), i, index,
                param.describe());
  }
  validate(group, index);
  state_.emplace_back(group.params.size());
  groups_.push_back(std::move(group));
}

double Optimizer::lr(size_t group) const {
  RECUR_CHECK(group < groups_.size(), "{}: no parameter group {} (there are {})", name(), group, groups_.size());
  return groups_[group].lr;
}

void Optimizer::set_lr(double lr) {
  for (size_t group = 0; group < groups_.size(); ++group) set_lr(group, lr);
}

void Optimizer::set_lr(size_t group, double lr) {
  RECUR_CHECK(group < groups_.size(), "{}: no parameter group {} (there are {})", name(), group, groups_.size());
  RECUR_CHECK(std::isfinite(lr) && lr >= 0, "{}: learning rate {} for group {}, expected a finite value >= 0", name(),
              lr, group);
  groups_[group].lr = lr;
}

const ParamState& Optimizer::state(size_t group, size_t index) const {
  RECUR_CHECK(group < state_.size() && index < state_[group].size(), "{}: no parameter {} in group {}", name(), index,
              group);
  return state_[group][index];
}

// ---- step -------------------------------------------------------------------------------

void Optimizer::step() {
  NoGradGuard no_grad;
  const std::array<std::string, 3> slots = buffer_slots();
  for (size_t g = 0; g < groups_.size(); ++g) {
    const ParamGroup& group = groups_[g];
    const std::vector<std::string> used = buffer_names(group);
    // The updates of this group, by device (in order of first appearance), and what to undo
    // if an update fails before it ran.
    std::vector<std::pair<Device, std::vector<ParamUpdate>>> by_device;
    struct Undo {
      ParamState* state;
      std::vector<std::string> created;
    };
    std::vector<Undo> undo;
    auto roll_back = [&undo] {
      for (Undo& u : undo) {
        --u.state->step;
        for (const std::string& name : u.created) u.state->buffers.erase(name);
      }
    };
    try {
      for (size_t i = 0; i < group.params.size(); ++i) {
        const Tensor& param = group.params[i];
        const Tensor grad = param.grad();
        if (!grad.defined()) continue;
        RECUR_CHECK(grad.dtype() == param.dtype() && grad.shape() == param.shape() && grad.device() == param.device(),
                    "{}: parameter {} of group {} is {} but its gradient is {}", name(), i, g, param.describe(),
                    grad.describe());
        RECUR_CHECK(param.is_contiguous(), "{}: parameter {} of group {} ({}) is not contiguous", name(), i, g,
                    param.describe());
        ParamState& state = state_[g][i];
        ParamUpdate update;
        update.param = param.detach();
        update.grad = grad.is_contiguous() ? grad.detach() : compute::contiguous(grad.detach());
        Undo& u = undo.emplace_back(Undo{&state, {}});
        ++state.step;
        for (size_t k = 0; k < slots.size(); ++k) {
          if (slots[k].empty() || std::find(used.begin(), used.end(), slots[k]) == used.end()) continue;
          auto it = state.buffers.find(slots[k]);
          if (it == state.buffers.end()) {
            const TensorOptions options = TensorOptions{}.with_dtype(param.dtype()).with_device(param.device());
            it = state.buffers.emplace(slots[k], full(param.shape(), initial_value(group, slots[k]), options)).first;
            u.created.push_back(slots[k]);
          }
          update.buffers[k] = it->second;
        }
        update.coeffs = coefficients(group, state, /*first_step=*/!u.created.empty());
        auto where = std::find_if(by_device.begin(), by_device.end(),
                                  [&](const auto& entry) { return entry.first == param.device(); });
        if (where == by_device.end()) where = by_device.insert(by_device.end(), {param.device(), {}});
        where->second.push_back(std::move(update));
      }
      for (const auto& [device, updates] : by_device) compute::optimizer_update(kind(), updates);
    } catch (...) {
      roll_back();
      throw;
    }
  }
  after_step();
}

void Optimizer::zero_grad(GradReset reset) {
  NoGradGuard no_grad;
  for (ParamGroup& group : groups_) {
    for (Tensor& param : group.params) {
      if (reset == GradReset::ToNone) {
        param.set_grad(Tensor());
      } else if (Tensor grad = param.grad(); grad.defined()) {
        grad.zero_();
      }
    }
  }
}

// ---- state dict -------------------------------------------------------------------------

StateDict Optimizer::state_dict() const {
  StateDict dict;
  int64_t flat = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const ParamGroup& group = groups_[g];
    const std::string prefix = fmt::format("param_groups.{}.", g);
    std::vector<int64_t> indices;
    for (size_t i = 0; i < group.params.size(); ++i) indices.push_back(flat + static_cast<int64_t>(i));
    dict[prefix + "params"] = detail::int64_vector(indices);
    dict[prefix + "lr"] = detail::float64_scalar(group.lr);
    dict[prefix + "weight_decay"] = detail::float64_scalar(group.weight_decay);
    for (const auto& [option, value] : group.options) dict[prefix + option] = detail::float64_scalar(value);
    for (size_t i = 0; i < group.params.size(); ++i, ++flat) {
      const ParamState& state = state_[g][i];
      if (state.step == 0) continue;
      const std::string state_prefix = fmt::format("state.{}.", flat);
      dict[state_prefix + "step"] = detail::int64_scalar(state.step);
      for (const auto& [buffer_name, tensor] : state.buffers) dict[state_prefix + buffer_name] = tensor;
    }
  }
  extra_state(dict);
  return dict;
}

void Optimizer::load_state_dict(const StateDict& dict) {
  const std::string owner = name() + ".load_state_dict";
  std::set<std::string> used;
  auto use = [&](std::string key) {
    used.insert(key);
    return key;
  };
  // Build the new groups and state aside; commit only when everything checked out.
  std::vector<ParamGroup> groups = groups_;
  std::vector<std::vector<ParamState>> states(groups_.size());
  int64_t flat = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    ParamGroup& group = groups[g];
    const std::string prefix = fmt::format("param_groups.{}.", g);
    const std::vector<int64_t> indices = detail::read_int64_vector(dict, use(prefix + "params"), owner);
    std::vector<int64_t> expected;
    for (size_t i = 0; i < group.params.size(); ++i) expected.push_back(flat + static_cast<int64_t>(i));
    RECUR_CHECK(indices == expected, "{}: group {} was saved with parameters [{}], this optimizer's are [{}]", owner, g,
                fmt::join(indices, ", "), fmt::join(expected, ", "));
    group.lr = detail::read_float64(dict, use(prefix + "lr"), owner);
    group.weight_decay = detail::read_float64(dict, use(prefix + "weight_decay"), owner);
    for (auto& [option, value] : group.options) value = detail::read_float64(dict, use(prefix + option), owner);
    RECUR_CHECK(
        std::isfinite(group.lr) && group.lr >= 0 && std::isfinite(group.weight_decay) && group.weight_decay >= 0,
        "{}: group {} has lr {} and weight_decay {}, expected finite values >= 0", owner, g, group.lr,
        group.weight_decay);
    validate(group, g);

    for (size_t i = 0; i < group.params.size(); ++i, ++flat) {
      const Tensor& param = group.params[i];
      ParamState& state = states[g].emplace_back();
      const std::string state_prefix = fmt::format("state.{}.", flat);
      if (!dict.count(state_prefix + "step")) continue;  // not stepped yet
      state.step = detail::read_int64(dict, use(state_prefix + "step"), owner);
      RECUR_CHECK(state.step >= 0, "{}: '{}step' is {}, expected >= 0", owner, state_prefix, state.step);
      if (state.step == 0) continue;
      for (const std::string& buffer_name : buffer_names(group)) {
        const std::string key = use(state_prefix + buffer_name);
        const auto it = dict.find(key);
        RECUR_CHECK(it != dict.end() && it->second.defined(), "{}: the state dict has no '{}' (parameter {}: {})",
                    owner, key, flat, param.describe());
        const Tensor& saved = it->second;
        RECUR_CHECK(saved.dtype() == param.dtype() && saved.shape() == param.shape(),
                    "{}: '{}' is {}, but parameter {} is {}", owner, key, saved.describe(), flat, param.describe());
        state.buffers[buffer_name] = copy_to(saved, param.device());
      }
    }
  }
  std::vector<std::string> extra_used;
  const std::function<void()> commit_extra = load_extra_state(dict, owner, extra_used);
  used.insert(extra_used.begin(), extra_used.end());
  for (const auto& [key, tensor] : dict) {
    RECUR_CHECK(used.count(key),
                "{}: unexpected entry '{}' (saved from another kind of optimizer, other options or "
                "other parameter groups?)",
                owner, key);
  }
  groups_ = std::move(groups);
  state_ = std::move(states);
  if (commit_extra) commit_extra();
}

}  // namespace recur::optim
