#include "optim/weight_averager.h"

#include <fmt/format.h>

#include "autograd/grad_mode.h"
#include "backends/compute.h"
#include "core/error.h"
#include "optim/state_values.h"

namespace recur::optim {
namespace {

// A contiguous copy of `tensor` (detached) in its dtype, on `device`.
Tensor copy_on(const Tensor& tensor, Device device) {
  Tensor copy = compute::convert(tensor.detach(), tensor.dtype(), device);
  return copy.is_contiguous() ? copy : compute::contiguous(copy);
}

std::string held_key(size_t index) { return fmt::format("average.held.{}", index); }

}  // namespace

WeightAverager::WeightAverager(std::vector<Tensor> params) : params_(std::move(params)) {
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& param = params_[i];
    RECUR_CHECK(param.defined() && (param.dtype() == DType::Float32 || param.dtype() == DType::Float64),
                "WeightAverager: parameter {} is {}, expected a float32 or float64 tensor", i,
                param.defined() ? param.describe() : std::string("undefined"));
  }
}

void WeightAverager::start() {
  RECUR_CHECK(!started_, "WeightAverager: averaging has already started ({} iterates averaged)", count_);
  NoGradGuard no_grad;
  held_.clear();
  for (const Tensor& param : params_) held_.push_back(copy_on(param, param.device()));
  started_ = true;
  count_ = 0;
}

void WeightAverager::update() {
  if (!started_) return;
  RECUR_CHECK(!swapped_, "WeightAverager: update() while the parameters hold the average (swap() back first)");
  NoGradGuard no_grad;
  const double weight = 1.0 / static_cast<double>(count_ + 1);
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& avg = held_[i];
    const Tensor w = params_[i].detach();
    // avg + (w - avg) / (k + 1)
    const Tensor scale = full({}, weight, TensorOptions{}.with_dtype(avg.dtype()).with_device(avg.device()));
    const Tensor step = compute::binary(BinaryOp::Mul, compute::binary(BinaryOp::Sub, w, avg), scale);
    avg.copy_(compute::binary(BinaryOp::Add, avg, step));
  }
  count_ += 1;
}

const std::vector<Tensor>& WeightAverager::average() const {
  RECUR_CHECK(started_, "WeightAverager: no average before start()");
  RECUR_CHECK(!swapped_, "WeightAverager: the parameters hold the average just now (swapped)");
  return held_;
}

void WeightAverager::swap() {
  if (!started_) return;
  NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor param = params_[i].detach();
    const Tensor own = copy_on(param, param.device());
    param.copy_(held_[i]);
    held_[i].copy_(own);
  }
  swapped_ = !swapped_;
}

StateDict WeightAverager::state_dict() const {
  StateDict dict;
  dict["average.started"] = detail::int64_scalar(started_ ? 1 : 0);
  dict["average.count"] = detail::int64_scalar(count_);
  dict["average.swapped"] = detail::int64_scalar(swapped_ ? 1 : 0);
  if (started_) {
    for (size_t i = 0; i < held_.size(); ++i) dict[held_key(i)] = held_[i];
  }
  return dict;
}

void WeightAverager::load_state_dict(const StateDict& dict, const std::string& owner, std::vector<std::string>* used) {
  const auto flag = [&](const char* key) {
    const int64_t value = detail::read_int64(dict, key, owner);
    RECUR_CHECK(value == 0 || value == 1, "{}: '{}' is {}, expected 0 or 1", owner, key, value);
    if (used != nullptr) used->emplace_back(key);
    return value == 1;
  };
  const bool started = flag("average.started");
  const bool swapped = flag("average.swapped");
  const int64_t count = detail::read_int64(dict, "average.count", owner);
  if (used != nullptr) used->emplace_back("average.count");
  RECUR_CHECK(count >= 0 && (started || (count == 0 && !swapped)),
              "{}: 'average.count' is {} with 'average.started' {} and 'average.swapped' {}, which do not go together",
              owner, count, started ? 1 : 0, swapped ? 1 : 0);
  std::vector<Tensor> held;
  if (started) {
    for (size_t i = 0; i < params_.size(); ++i) {
      const std::string key = held_key(i);
      const auto it = dict.find(key);
      RECUR_CHECK(it != dict.end() && it->second.defined(), "{}: the state dict has no '{}' (parameter {}: {})", owner,
                  key, i, params_[i].describe());
      RECUR_CHECK(it->second.dtype() == params_[i].dtype() && it->second.shape() == params_[i].shape(),
                  "{}: '{}' is {}, but parameter {} is {}", owner, key, it->second.describe(), i,
                  params_[i].describe());
      held.push_back(copy_on(it->second, params_[i].device()));
      if (used != nullptr) used->push_back(key);
    }
  }
  started_ = started;
  swapped_ = swapped;
  count_ = count;
  held_ = std::move(held);
}

}  // namespace recur::optim
