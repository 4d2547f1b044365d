#include "examples/lm/train_step.h"

#include <cmath>
#include <limits>
#include <optional>

#include "autograd/ops.h"
#include "backends/profile.h"
#include "nn/losses.h"
#include "optim/clip.h"

namespace recur::lm {

TrainStep::TrainStep(LanguageModel& model, optim::Optimizer& optimizer, Device device, double clip,
                     AfterBackward after_backward)
    : model_(model),
      optimizer_(optimizer),
      parameters_(model.parameters()),
      device_(device),
      max_norm_(clip > 0 ? clip : std::numeric_limits<double>::infinity()),
      after_backward_(std::move(after_backward)) {}

StepResult TrainStep::operator()(const Batch& batch, const nn::RNNState& from, double lr, int64_t step) {
  optimizer_.set_lr(lr);
  model_.train();
  const DropoutShardGuard shard(shard_);
  std::optional<profile::Phase> phase(std::in_place, "forward");  // for `recur bench train-step --profile`
  auto [logits, state] = model_.forward(batch.input.to(device_), from);
  const Tensor loss = nn::cross_entropy(logits, batch.target.to(device_));
  StepResult result;
  result.loss = loss.item();
  phase.reset();  // the loss's all-reduce, like the gradients', is outside the primitives
  if (parallel_ != nullptr) result.loss = parallel_->sum({result.loss})[0] / parallel_->size();
  result.grad_norm = std::numeric_limits<double>::quiet_NaN();
  bool good = std::isfinite(result.loss);
  if (good) {
    const Tensor& penalty = model_.activation_penalty();  // AR and TAR: minimised, not reported
    phase.emplace("backward");
    (penalty.defined() ? loss + penalty : loss).backward();
    phase.reset();
    if (after_backward_) after_backward_(step, model_);
    if (parallel_ != nullptr) parallel_->average_gradients();
    phase.emplace("optimizer");
    const optim::ClipResult clip = optim::clip_grad_norm_detailed(parameters_, max_norm_);
    result.grad_norm = clip.norm;
    good = clip.finite;
    if (good) optimizer_.step();
  }
  if (!phase) phase.emplace("optimizer");
  optimizer_.zero_grad();
  phase.reset();
  if (!std::isfinite(result.loss)) result.loss = std::numeric_limits<double>::quiet_NaN();
  result.applied = good;
  if (good) result.carry = {state.h.detach(), state.c.defined() ? state.c.detach() : Tensor()};
  return result;
}

}  // namespace recur::lm

namespace recur::lm {

void TrainStep::set_data_parallel(nn::DataParallel* parallel, DropoutShard shard) {
  parallel_ = parallel;
  shard_ = shard;
}

}  // namespace recur::lm
