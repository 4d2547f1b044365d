// The hooks behind Tensor's computing members and the factories of core/tensor.h.
//
// core/ defines every member and factory that core/tensor.h declares, but computing needs the
// machinery of the layers above it: a device's memory and kernels (backends/) and the gradient
// tape (autograd/). As with the Allocator interface of core/storage.h, core names what it needs
// as a table of function pointers, and the layer that implements them installs its table before
// main runs: backends/tensor_compute.cpp installs BackendHooks, autograd/tensor_methods.cpp
// AutogradHooks, each from a static initialiser that runs before those of the default priority
// (so a program's own static tensors find them). A linker drops an object of a static library
// that nobody references, so each of the two libraries carries the interface link option
// -Wl,--undefined=<anchor> (backends/CMakeLists.txt, autograd/CMakeLists.txt), where the anchor
// (recur_backends_tensor_hooks, recur_autograd_tensor_hooks) is a symbol of the installing
// object: every program that links the library keeps it, recur::recur and the installed package
// included.
//
// A member called in a program that does not link its layer throws recur::Error naming the
// library to link. The tables are written once, during static initialisation, and only read
// after: one indirect call per member, no lock.
#pragma once

#include <cstdint>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/shape.h"

namespace recur {

class Allocator;
class Tensor;

// Installed by recur_backends (backends/tensor_compute.cpp).
struct BackendHooks {
  // The allocator of a device's memory (allocator_for, backends/backend.h); throws when the
  // device cannot be used.
  Allocator& (*allocator_for)(Device device) = nullptr;
  // out[i] = value.
  void (*fill)(Tensor& out, double value) = nullptr;
  // dst[i] = src[i] converted to dst's dtype: same device, same shape, any strides.
  void (*copy)(Tensor& dst, const Tensor& src) = nullptr;
  // out[i] = U(low, high) and N(mean, std) from the Philox stream `seed`, counter blocks from
  // `first_block` on.
  void (*fill_uniform)(Tensor& out, uint64_t seed, uint64_t first_block, double low, double high) = nullptr;
  void (*fill_normal)(Tensor& out, uint64_t seed, uint64_t first_block, double mean, double std) = nullptr;
  // A contiguous copy of x in `dtype` on `device`, not differentiable (compute::convert).
  Tensor (*convert)(const Tensor& x, DType dtype, Device device) = nullptr;
};

// Installed by recur_autograd (autograd/tensor_methods.cpp): the differentiable views and
// copies of autograd/ops.h, and the engine's backward.
struct AutogradHooks {
  Tensor (*reshape)(const Tensor& x, const Shape& shape) = nullptr;
  Tensor (*transpose)(const Tensor& x, int64_t axis0, int64_t axis1) = nullptr;
  Tensor (*permute)(const Tensor& x, const std::vector<int64_t>& axes) = nullptr;
  Tensor (*narrow)(const Tensor& x, int64_t axis, int64_t start, int64_t length) = nullptr;
  Tensor (*slice)(const Tensor& x, int64_t axis, int64_t start, int64_t end, int64_t step) = nullptr;
  Tensor (*select)(const Tensor& x, int64_t axis, int64_t index) = nullptr;
  Tensor (*expand)(const Tensor& x, const Shape& shape) = nullptr;
  Tensor (*squeeze)(const Tensor& x, int64_t axis) = nullptr;
  Tensor (*unsqueeze)(const Tensor& x, int64_t axis) = nullptr;
  Tensor (*contiguous)(const Tensor& x) = nullptr;
  Tensor (*clone)(const Tensor& x) = nullptr;
  Tensor (*to_device)(const Tensor& x, Device device) = nullptr;
  Tensor (*to_dtype)(const Tensor& x, DType dtype) = nullptr;
  void (*backward)(const Tensor& root, const Tensor& gradient, bool retain_graph) = nullptr;
};

// Called once, by a static initialiser of the layer, with every hook set.
void install_backend_hooks(const BackendHooks& hooks);
void install_autograd_hooks(const AutogradHooks& hooks);

namespace detail {
extern BackendHooks backend_hooks;  // all null until installed
extern AutogradHooks autograd_hooks;
// "<member> needs <library>, which this program does not link: ..."
[[noreturn]] void throw_not_linked(const char* member, const char* library);
}  // namespace detail

// The installed tables; `member` names the caller in the error when the layer is not linked.
inline const BackendHooks& backend_hooks(const char* member) {
  if (detail::backend_hooks.convert == nullptr) [[unlikely]]
    detail::throw_not_linked(member, "recur_backends");
  return detail::backend_hooks;
}
inline const AutogradHooks& autograd_hooks(const char* member) {
  if (detail::autograd_hooks.backward == nullptr) [[unlikely]]
    detail::throw_not_linked(member, "recur_autograd");
  return detail::autograd_hooks;
}

}  // namespace recur
