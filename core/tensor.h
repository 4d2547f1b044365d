// Tensor: a cheap, reference-counted handle to (storage, offset, shape, strides, dtype), plus
// the autograd fields (requires_grad, grad, the node that made it).
//
// core/ defines everything declared here. The members that compute and the factories reach the
// layers above through the hooks of core/tensor_hooks.h: a device's memory and kernels, which
// recur_backends installs (item, to_vector, fill_, copy_, the factories, printing), and the
// gradient tape, which recur_autograd installs (the differentiable views and copies,
// backward). A program that calls one without linking its layer gets a recur::Error naming the
// library; recur::recur links all.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/philox.h"
#include "core/shape.h"
#include "core/storage.h"

namespace recur {

namespace autograd {
class Node;  // defined in autograd/node.h
}

class Tensor;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  Strides strides;  // in elements
  DType dtype = DType::Float32;

  // autograd
  bool requires_grad = false;
  std::shared_ptr<autograd::Node> grad_fn;  // the node that produced this tensor (non-leaf)
  uint32_t output_nr = 0;                   // which output of grad_fn
  std::shared_ptr<TensorImpl> grad;         // accumulated gradient of a leaf
  std::string name;                         // optional, for messages
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- metadata -------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Strides& strides() const { return impl().strides; }
  int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
  int64_t size(int64_t axis) const;  // negative axes count from the end
  int64_t numel() const { return numel_of(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  int64_t offset() const { return impl().offset; }
  bool is_contiguous() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype()); }
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  // Pointer to element 0 of this view (device memory for CUDA tensors).
  void* raw_data() const;
  template <typename T> T* data() const {
    RECUR_CHECK(dtype() == dtype_of<T>(), "data<{}>() called on a {} tensor", dtype_name(dtype_of<T>()), dtype());
    return static_cast<T*>(raw_data());
  }
  TensorImpl& impl() const {
    RECUR_CHECK(impl_ != nullptr, "operation on an undefined tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }
  // "float32[2, 3] on cpu"
  std::string describe() const;

  // ---- element access (CPU, for tests and small tools) ----------------------------------
  // Reads one element as double (any dtype), by multi-index.
  double at(std::initializer_list<int64_t> index) const;
  void set(std::initializer_list<int64_t> index, double value);
  // item(): the value of a one-element tensor (copies from the GPU when needed).
  double item() const;
  // All elements in row-major order, converted to T (copies from the GPU when needed).
  template <typename T> std::vector<T> to_vector() const;

  // ---- raw views: metadata only, never differentiable (autograd's views wrap these) ------
  Tensor as_strided_raw(const Shape& shape, const Strides& strides, int64_t offset) const;
  Tensor detach() const;  // same data, no autograd history

  // ---- differentiable views (recur_autograd) ---------------------------------------------
  Tensor reshape(const Shape& shape) const;  // a view when possible, else a copy; -1 infers
  Tensor view(const Shape& shape) const;     // a view; throws when the strides do not allow it
  Tensor transpose(int64_t axis0, int64_t axis1) const;
  Tensor t() const { return transpose(0, 1); }
  Tensor permute(const std::vector<int64_t>& axes) const;
  Tensor narrow(int64_t axis, int64_t start, int64_t length) const;
  Tensor slice(int64_t axis, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t axis, int64_t index) const;
  Tensor expand(const Shape& shape) const;
  Tensor squeeze(int64_t axis) const;
  Tensor unsqueeze(int64_t axis) const;
  Tensor flatten() const { return reshape({numel()}); }

  // ---- copies and conversions (differentiable; recur_autograd) ---------------------------
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;

  // ---- in-place, non-differentiable (recur_backends) -------------------------------------
  Tensor& fill_(double value);
  Tensor& copy_(const Tensor& src);  // same shape (or broadcastable), any dtype or device
  Tensor& zero_() { return fill_(0.0); }

  // ---- autograd --------------------------------------------------------------------------
  bool requires_grad() const { return impl_ && impl().requires_grad; }
  Tensor& requires_grad_(bool value = true);
  Tensor grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }
  void set_grad(const Tensor& grad) { impl().grad = grad.impl_; }
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  const std::shared_ptr<autograd::Node>& grad_fn() const { return impl().grad_fn; }
  // Back-propagates from this tensor (recur_autograd's engine). A scalar uses 1 as its
  // gradient; a non-scalar needs an explicit upstream gradient of its shape.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// ---- factories (core/tensor_factories.cpp, through recur_backends) ----------------------
struct TensorOptions {
  DType dtype = DType::Float32;
  Device device = Device::cpu();
  bool requires_grad = false;
  TensorOptions& with_dtype(DType d) {
    dtype = d;
    return *this;
  }
  TensorOptions& with_device(Device d) {
    device = d;
    return *this;
  }
  TensorOptions& with_requires_grad(bool r) {
    requires_grad = r;
    return *this;
  }
};

Tensor empty(const Shape& shape, TensorOptions options = {});
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, double value, TensorOptions options = {});
Tensor zeros_like(const Tensor& like);
Tensor ones_like(const Tensor& like);
Tensor empty_like(const Tensor& like);
// [start, end) with the given step.
Tensor arange(double start, double end, double step = 1.0, TensorOptions options = {});
// U(low, high) and N(mean, std) from a Philox stream (the default generator when none given).
Tensor rand(const Shape& shape, TensorOptions options = {}, Generator* generator = nullptr, double low = 0.0,
            double high = 1.0);
Tensor randn(const Shape& shape, TensorOptions options = {}, Generator* generator = nullptr, double mean = 0.0,
             double std = 1.0);
// Row-major values into a tensor of the given shape (numel must match).
template <typename T> Tensor from_vector(const std::vector<T>& values, const Shape& shape, TensorOptions options = {});
Tensor scalar_tensor(double value, TensorOptions options = {});

// Uninitialised contiguous memory on a device, not differentiable: a Storage from the device's
// allocator (BackendHooks::allocator_for, core/tensor_hooks.h).
Tensor make_contiguous_tensor(const Shape& shape, DType dtype, Device device);

}  // namespace recur

// fmt::format("{}", tensor) prints the values (at most a few per dimension) with dtype and shape
// (core/tensor_format.cpp).
template <> struct fmt::formatter<recur::Tensor> {
  constexpr auto parse(format_parse_context& ctx) { return ctx.begin(); }
  format_context::iterator format(const recur::Tensor& tensor, format_context& ctx) const;
};
