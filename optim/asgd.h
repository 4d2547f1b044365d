// Averaged SGD as AWD-LSTM uses it (PyTorch's torch.optim.ASGD with t0 = 0 and lambd = 0): plain
// SGD on the parameters w,
//
//   w = w - lr * (grad + weight_decay * w)
//
// and, once start_averaging() is called, after each step k = 0, 1, ... the running average of the
// iterates (optim/weight_averager.h):
//
//   avg = avg + (w - avg) / (k + 1)
//
// Training goes on with w; the average is what a model is evaluated and saved with
// (swap_average() puts it into the parameters and back). NT-ASGD decides when to start with the
// rule of optim/nonmono.h. The state dict is SGD's (param_groups.*, with momentum 0, and
// state.<i>.step) and the averager's (average.*).
#pragma once

#include "optim/sgd.h"
#include "optim/weight_averager.h"

namespace recur::optim {

struct ASGDOptions {
  double lr = 0.01;
  double weight_decay = 0.0;
};

class ASGD final : public SGD {
 public:
  explicit ASGD(std::vector<Tensor> params, ASGDOptions options = {});
  std::string name() const override { return "ASGD"; }

  // From the next step on, average the parameters (recur::Error when averaging already).
  void start_averaging() { averager_.start(); }
  bool averaging() const { return averager_.started(); }
  int64_t averaged_steps() const { return averager_.count(); }
  const WeightAverager& averager() const { return averager_; }
  // Exchanges the parameters' values with the average (a second call undoes it; nothing before
  // averaging starts).
  void swap_average() { averager_.swap(); }

 protected:
  void after_step() override;
  void extra_state(StateDict& dict) const override;
  std::function<void()> load_extra_state(const StateDict& dict, const std::string& owner,
                                         std::vector<std::string>& used) override;

 private:
  WeightAverager averager_;
};

}  // namespace recur::optim
