// Installs the autograd hooks of core/tensor_hooks.h, through which core's Tensor members
// reshape, view, transpose, permute, narrow, slice, select, expand, squeeze, unsqueeze,
// contiguous, clone, to and backward record gradients (autograd/ops.h, the engine).
//
// The anchor keeps this object in every program that links recur_autograd: the library's
// interface link option -Wl,--undefined=recur_autograd_tensor_hooks (autograd/CMakeLists.txt).
#include "autograd/node.h"
#include "autograd/ops.h"
#include "backends/compute.h"
#include "core/tensor_hooks.h"

extern "C" {
extern const int recur_autograd_tensor_hooks;
const int recur_autograd_tensor_hooks = 1;
}

namespace recur {
namespace {

Tensor clone_recorded(const Tensor& x) {
  Tensor y = compute::contiguous(x);
  return autograd::record("clone", {x}, y, [](const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0]}; });
}

void backward_from(const Tensor& root, const Tensor& gradient, bool retain_graph) {
  autograd::backward({root}, {gradient}, retain_graph);
}

struct InstallAutogradHooks {
  InstallAutogradHooks() {
    AutogradHooks hooks;
    hooks.reshape = &recur::reshape;
    hooks.transpose = &recur::transpose;
    hooks.permute = &recur::permute;
    hooks.narrow = &recur::narrow;
    hooks.slice = &recur::slice;
    hooks.select = &recur::select;
    hooks.expand = &recur::expand;
    hooks.squeeze = &recur::squeeze;
    hooks.unsqueeze = &recur::unsqueeze;
    hooks.contiguous = &recur::contiguous;
    hooks.clone = &clone_recorded;
    hooks.to_device = &recur::to_device;
    hooks.to_dtype = &recur::to_dtype;
    hooks.backward = &backward_from;
    install_autograd_hooks(hooks);
  }
};

// Before the static initialisers of the default priority, so that a program's static tensors
// find the hooks.
__attribute__((init_priority(101))) const InstallAutogradHooks install_autograd_hooks_at_start;

}  // namespace
}  // namespace recur
