#include "optim/asgd.h"

#include <memory>

namespace recur::optim {

ASGD::ASGD(std::vector<Tensor> params, ASGDOptions options)
    : SGD(params, SGDOptions{.lr = options.lr, .momentum = 0.0, .weight_decay = options.weight_decay}),
      averager_(params) {}

void ASGD::after_step() { averager_.update(); }

void ASGD::extra_state(StateDict& dict) const {
  for (auto& [key, tensor] : averager_.state_dict()) dict[key] = tensor;
}

std::function<void()> ASGD::load_extra_state(const StateDict& dict, const std::string& owner,
                                             std::vector<std::string>& used) {
  auto staged = std::make_shared<WeightAverager>(averager_);
  staged->load_state_dict(dict, owner, &used);
  return [this, staged] { averager_ = *staged; };
}

}  // namespace recur::optim
