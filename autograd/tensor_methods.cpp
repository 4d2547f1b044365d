// Tensor's member functions that record gradients: thin forwards to autograd/ops.h and the
// engine, declared in core/tensor.h.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "backends/compute.h"

namespace recur {

Tensor Tensor::reshape(const Shape& shape) const { return recur::reshape(*this, shape); }

Tensor Tensor::view(const Shape& shape) const {
  RECUR_CHECK(is_contiguous(), "view {} as {}: the tensor is not contiguous (use reshape)", describe(),
              shape_str(shape));
  return recur::reshape(*this, shape);
}

Tensor Tensor::transpose(int64_t axis0, int64_t axis1) const { return recur::transpose(*this, axis0, axis1); }
Tensor Tensor::permute(const std::vector<int64_t>& axes) const { return recur::permute(*this, axes); }
Tensor Tensor::narrow(int64_t axis, int64_t start, int64_t length) const {
  return recur::narrow(*this, axis, start, length);
}
Tensor Tensor::slice(int64_t axis, int64_t start, int64_t end, int64_t step) const {
  return recur::slice(*this, axis, start, end, step);
}
Tensor Tensor::select(int64_t axis, int64_t index) const { return recur::select(*this, axis, index); }
Tensor Tensor::expand(const Shape& shape) const { return recur::expand(*this, shape); }
Tensor Tensor::squeeze(int64_t axis) const { return recur::squeeze(*this, axis); }
Tensor Tensor::unsqueeze(int64_t axis) const { return recur::unsqueeze(*this, axis); }
Tensor Tensor::contiguous() const { return recur::contiguous(*this); }

Tensor Tensor::clone() const {
  Tensor y = compute::contiguous(*this);
  return autograd::record("clone", {*this}, y, [](const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0]}; });
}

Tensor Tensor::to(Device device) const { return to_device(*this, device); }
Tensor Tensor::to(DType dtype) const { return to_dtype(*this, dtype); }

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  autograd::backward({*this}, {gradient}, retain_graph);
}

}  // namespace recur
