// Sequential: one-input modules applied in order, registered as children "0", "1", ...
//
//   auto mlp = std::make_shared<nn::Sequential>();
//   mlp->push_back(std::make_shared<nn::Linear>(2, 8));
//   mlp->push_back(std::make_shared<nn::Tanh>());
//   Tensor y = mlp->forward(x);
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/module.h"

namespace recur::nn {

class Sequential : public UnaryModule {
 public:
  Sequential() = default;
  explicit Sequential(const std::vector<std::shared_ptr<UnaryModule>>& modules);
  std::string name() const override { return "Sequential"; }
  Tensor forward(const Tensor& x) override;

  // Appends a module as child "<size()>"; returns it.
  template <typename M> std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    modules_.push_back(register_module(std::to_string(modules_.size()), module));
    return module;
  }
  size_t size() const { return modules_.size(); }
  const std::shared_ptr<UnaryModule>& operator[](size_t index) const;

 private:
  std::vector<std::shared_ptr<UnaryModule>> modules_;
};

}  // namespace recur::nn
