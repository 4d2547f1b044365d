// Module: the base of every layer. It keeps a registry of named parameters, buffers and child
// modules, and walks it for state_dict()/load_state_dict(), to(), train()/eval(), zero_grad().
//
// Identity. A registered tensor is a handle (core/tensor.h) whose TensorImpl is shared by the
// concrete module's member, the registry and anyone else holding it (an optimizer). to() and
// load_state_dict() change that TensorImpl in place (new storage, or values copied in), so all
// handles see the change and an optimizer built before them stays valid. A concrete module must
// therefore never re-assign a registered member; it writes into it (init::*, copy_).
//
// A concrete module registers its tensors and children in its constructor:
//
//   class Head : public nn::Module {
//    public:
//     Head() {
//       proj = register_module("proj", std::make_shared<nn::Linear>(256, 65));
//       scale = register_parameter("scale", ones({65}));
//     }
//     std::shared_ptr<nn::Linear> proj;
//     Tensor scale;
//   };
//
// Names are dotted paths in registration order, a module's own tensors before its children's
// (PyTorch's order): "scale", "proj.weight", "proj.bias".
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "nn/state_dict.h"

namespace recur::nn {

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  Module(Module&&) = delete;
  Module& operator=(Module&&) = delete;

  // The type's name for describe(): "Linear", "LSTM".
  virtual std::string name() const { return "Module"; }
  // The options shown in describe() between the parentheses: "in_features=2, out_features=8".
  virtual std::string extra_repr() const { return ""; }
  // The module tree, as PyTorch prints it:
  //   Sequential(
  //     (0): Linear(in_features=2, out_features=8, bias=true)
  //     (1): Tanh()
  //   )
  std::string describe() const;

  // ---- registration (names: non-empty, no '.', unique within this module) -----------------
  // Marks the tensor requires_grad and registers it; returns the same handle.
  Tensor register_parameter(const std::string& name, Tensor tensor);
  // A tensor saved in the state dict but not trained (running statistics, masks).
  Tensor register_buffer(const std::string& name, Tensor tensor);
  template <typename M> std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

  // ---- walking ------------------------------------------------------------------------------
  // Each parameter once (a tensor registered under two names, as in weight tying, is listed
  // under its first name).
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<Tensor> buffers() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  // Direct children, in registration order.
  std::vector<std::shared_ptr<Module>> children() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }
  // The number of parameter elements (each shared tensor counted once).
  int64_t num_parameters() const;

  // ---- mode ---------------------------------------------------------------------------------
  // Sets the training flag of this module and every descendant (dropout reads it).
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // ---- placement ----------------------------------------------------------------------------
  // Moves every parameter, buffer and gradient, in place (identity kept), then calls
  // after_to() on every module of the tree, children before parents.
  void to(Device device);
  // Converts every floating parameter, buffer and gradient, in place; int64 buffers stay.
  void to(DType dtype);
  // Drops every parameter's gradient (sets it undefined).
  void zero_grad();

  // ---- checkpoints ----------------------------------------------------------------------------
  // Every parameter and buffer under its full name (shared tensors under each name), detached:
  // the values share storage with the module.
  StateDict state_dict() const;
  // Copies values into the existing tensors (converting device, never dtype). Checks everything
  // before copying anything, and reports every problem in one recur::Error:
  //   "load_state_dict: missing keys: [head.bias]; unexpected keys: [foo];
  //    shape mismatch: head.weight expected [65, 256], got [64, 256]"
  // strict = false ignores missing and unexpected keys; shape and dtype mismatches still throw.
  void load_state_dict(const StateDict& state, bool strict = true);

 protected:
  // Called on every module of the tree after to() changed its tensors (a layer that keeps
  // derived views, such as a flat weight buffer, rebuilds them here).
  virtual void after_to() {}
  // Module's own tensors (not its children's).
  const std::vector<std::pair<std::string, Tensor>>& own_parameters() const { return parameters_; }
  const std::vector<std::pair<std::string, Tensor>>& own_buffers() const { return buffers_; }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name, const char* what) const;
  // Every (full name, tensor) of this subtree: parameters (buffers = false) or buffers.
  void collect(const std::string& prefix, bool buffers, std::vector<std::pair<std::string, Tensor>>& out) const;
  void describe_into(std::string& out, int indent) const;
  void after_to_tree();  // children first, then this module

  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// A module with one input and one output: what Sequential chains.
class UnaryModule : public Module {
 public:
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

}  // namespace recur::nn
