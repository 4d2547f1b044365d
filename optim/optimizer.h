// The optimizer base: parameter groups with their hyper-parameters, per-parameter state, step(),
// zero_grad() and a state dict that round-trips exactly through safetensors.
//
// Each optimizer (sgd.h, adam.h, rmsprop.h, adagrad.h) follows PyTorch 1.13's single-tensor
// formulas (torch/optim/*.py) operation for operation, so that the results agree with PyTorch
// to rounding. An optimizer only computes its coefficients (in float64, per parameter); the
// per-element update is written once in backends/optimizer_math.h and run by the parameters'
// backend as a fused op: one pass per parameter on the CPU (OpenMP for large tensors), one
// kernel launch for all the parameters of a group on a GPU. Nothing is copied between devices.
//
// State dict layout (all tensors; every scalar is 0-d, so it is saved and restored bit-exact):
//   param_groups.<g>.params      int64 [n]  the flat indices of group g's parameters
//   param_groups.<g>.lr          float64    and .weight_decay and each optimizer option
//                                           ("momentum", "beta1", "nesterov" as 0/1, ...)
//   state.<i>.step               int64      steps taken by parameter i (flat index across groups,
//                                           as PyTorch numbers them); absent before its first step
//   state.<i>.<buffer>           the parameter's dtype and shape ("exp_avg", "momentum_buffer", ...)
// The buffer tensors are the optimizer's own (not copies): save or clone them before stepping on.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "backends/optimizer_math.h"
#include "core/state_dict.h"
#include "core/tensor.h"

namespace recur::optim {

// Parameters sharing hyper-parameters. A NaN lr or weight_decay, and an option left out of
// `options`, take the optimizer's defaults (the options struct it was built with). Option names
// are those of PyTorch ("momentum", "dampening", "nesterov", "beta1", "beta2", "eps", "amsgrad",
// "alpha", "centered", "lr_decay", "initial_accumulator_value"); flags are 0 or 1. An option
// the optimizer does not know is a recur::Error.
struct ParamGroup {
  static constexpr double kUseDefault = std::numeric_limits<double>::quiet_NaN();
  ParamGroup() = default;
  explicit ParamGroup(std::vector<Tensor> params_, double lr_ = kUseDefault, double weight_decay_ = kUseDefault,
                      std::map<std::string, double> options_ = {})
      : params(std::move(params_)), lr(lr_), weight_decay(weight_decay_), options(std::move(options_)) {}

  std::vector<Tensor> params;
  double lr = kUseDefault;
  double weight_decay = kUseDefault;
  std::map<std::string, double> options;

  double option(const std::string& name) const;  // recur::Error naming the option when absent
};

// What an optimizer remembers about one parameter.
struct ParamState {
  int64_t step = 0;                       // updates taken (0: none yet, buffers not created)
  std::map<std::string, Tensor> buffers;  // shaped like the parameter, in its dtype and device
};

// zero_grad's two behaviours: drop the gradient tensors (the next backward allocates fresh
// ones; PyTorch 2's default) or fill them with zeros in place.
enum class GradReset : uint8_t { ToNone, ToZero };

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual std::string name() const = 0;  // "SGD", "Adam", ...

  // One update of every parameter that has a gradient; the others are skipped. Parameters and
  // gradients must be float32 or float64, of the same dtype, shape and device.
  void step();
  void zero_grad(GradReset reset = GradReset::ToNone);

  // Validates the group (defined float32/float64 parameters, none already in another group,
  // known options in range) and fills in the defaults.
  void add_param_group(ParamGroup group);
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  // The learning rate of a group, and setting it for one group or all (schedulers use these).
  double lr(size_t group = 0) const;
  void set_lr(double lr);
  void set_lr(size_t group, double lr);
  const ParamState& state(size_t group, size_t index) const;

  StateDict state_dict() const;
  // Restores hyper-parameters and state saved from an optimizer of the same kind over
  // parameters of the same shapes, grouped the same way. Everything is checked before anything
  // changes: a missing, extra or mismatched entry is a recur::Error and leaves this optimizer as
  // it was. Buffers are copied onto each parameter's device.
  void load_state_dict(const StateDict& dict);

 protected:
  // default_options: every option this optimizer knows, with its default value.
  Optimizer(double default_lr, double default_weight_decay, std::map<std::string, double> default_options);

  // Checks a group's hyper-parameter values and combinations (recur::Error naming them).
  virtual void validate(const ParamGroup& group, size_t group_index) const = 0;
  // The buffers a parameter of this group holds once it has taken a step.
  virtual std::vector<std::string> buffer_names(const ParamGroup& group) const = 0;
  // The fused update this optimizer runs and the name of the buffer in each of its slots b0..b2
  // (backends/optimizer_math.h; "" for a slot the kind never uses).
  virtual OptimizerKind kind() const = 0;
  virtual std::array<std::string, 3> buffer_slots() const = 0;
  // The value a buffer starts with (0 unless the optimizer says otherwise).
  virtual double initial_value(const ParamGroup& /*group*/, const std::string& /*buffer*/) const { return 0.0; }
  // One parameter's coefficients for this step, in float64: state.step already counts it, and
  // first_step says the buffers were created just now.
  virtual OptimizerCoeffs coefficients(const ParamGroup& group, const ParamState& state, bool first_step) const = 0;
  // After every step() that updated the parameters (ASGD averages them here).
  virtual void after_step() {}
  // State of the optimizer as a whole, beside the groups' and the parameters' (ASGD's average):
  // added to state_dict(), and read back by load_state_dict(), which calls load_extra_state while
  // it checks (the keys read go into `used`) and the function returned once everything checked.
  virtual void extra_state(StateDict& /*dict*/) const {}
  virtual std::function<void()> load_extra_state(const StateDict& /*dict*/, const std::string& /*owner*/,
                                                 std::vector<std::string>& /*used*/) {
    return {};
  }

 private:
  double default_lr_;
  double default_weight_decay_;
  std::map<std::string, double> default_options_;
  std::vector<ParamGroup> groups_;
  std::vector<std::vector<ParamState>> state_;  // [group][index]
};

}  // namespace recur::optim
