#include "nn/sequential.h"

namespace recur::nn {

Sequential::Sequential(const std::vector<std::shared_ptr<UnaryModule>>& modules) {
  for (const auto& module : modules) push_back(module);
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const auto& module : modules_) y = module->forward(y);
  return y;
}

const std::shared_ptr<UnaryModule>& Sequential::operator[](size_t index) const {
  RECUR_CHECK(index < modules_.size(), "Sequential: index {} is out of range for {} modules", index, modules_.size());
  return modules_[index];
}

}  // namespace recur::nn
