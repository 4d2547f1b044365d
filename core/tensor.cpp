// Tensor's data structure, metadata and raw views, and the members that compute, which call
// the layers above through the hooks of core/tensor_hooks.h.
#include "core/tensor.h"

#include <cstring>

#include "core/tensor_hooks.h"

namespace recur {

int64_t Tensor::size(int64_t axis) const { return shape()[normalize_axis(axis, shape().size())]; }

bool Tensor::is_contiguous() const {
  int64_t step = 1;
  for (size_t i = shape().size(); i-- > 0;) {
    if (shape()[i] != 1 && strides()[i] != step) return false;
    step *= shape()[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(impl().storage->data()) + impl().offset * static_cast<int64_t>(dtype_size(dtype()));
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined tensor";
  return fmt::format("{}{} on {}", dtype(), shape_str(shape()), device());
}

namespace {

int64_t element_offset(const Tensor& t, std::initializer_list<int64_t> index) {
  RECUR_CHECK(t.device().is_cpu(), "element access needs a CPU tensor, got {} (use .to(Device::cpu()))", t.describe());
  RECUR_CHECK(static_cast<int64_t>(index.size()) == t.dim(), "element access with {} indices into {}", index.size(),
              t.describe());
  int64_t offset = 0;
  size_t axis = 0;
  for (int64_t i : index) {
    RECUR_CHECK(i >= 0 && i < t.shape()[axis], "index {} out of range for axis {} of size {} in {}", i, axis,
                t.shape()[axis], t.describe());
    offset += i * t.strides()[axis];
    ++axis;
  }
  return offset;
}

}  // namespace

double Tensor::at(std::initializer_list<int64_t> index) const {
  return load_as_double(raw_data(), dtype(), element_offset(*this, index));
}

void Tensor::set(std::initializer_list<int64_t> index, double value) {
  store_from_double(raw_data(), dtype(), element_offset(*this, index), value);
}

Tensor Tensor::as_strided_raw(const Shape& new_shape, const Strides& new_strides, int64_t new_offset) const {
  RECUR_CHECK(new_shape.size() == new_strides.size(), "as_strided: shape {} and strides {} differ in rank",
              shape_str(new_shape), shape_str(new_strides));
  auto out = std::make_shared<TensorImpl>();
  out->storage = impl().storage;
  out->offset = new_offset;
  out->shape = new_shape;
  out->strides = new_strides;
  out->dtype = dtype();
  // Bounds: the furthest element reached must lie inside the storage.
  int64_t lo = new_offset, hi = new_offset;
  for (size_t i = 0; i < new_shape.size(); ++i) {
    if (new_shape[i] == 0) {
      lo = hi = new_offset;
      break;
    }
    const int64_t reach = (new_shape[i] - 1) * new_strides[i];
    (reach < 0 ? lo : hi) += reach;
  }
  const int64_t capacity = static_cast<int64_t>(impl().storage->nbytes() / dtype_size(dtype()));
  RECUR_CHECK(lo >= 0 && (numel_of(new_shape) == 0 || hi < capacity),
              "view {} with strides {} at offset {} reaches outside its storage of {} elements", shape_str(new_shape),
              shape_str(new_strides), new_offset, capacity);
  return Tensor(std::move(out));
}

Tensor Tensor::detach() const {
  Tensor out = as_strided_raw(shape(), strides(), offset());
  out.impl().name = impl().name;
  return out;
}

Tensor& Tensor::requires_grad_(bool value) {
  RECUR_CHECK(!value || is_floating(dtype()), "requires_grad needs a floating-point tensor, got {}", describe());
  RECUR_CHECK(value || is_leaf(), "requires_grad_(false) on a non-leaf tensor {}: use detach()", describe());
  impl().requires_grad = value;
  return *this;
}

// ---- differentiable views and copies (AutogradHooks) -------------------------------------

Tensor Tensor::reshape(const Shape& shape) const { return autograd_hooks("Tensor::reshape").reshape(*this, shape); }

Tensor Tensor::view(const Shape& shape) const {
  RECUR_CHECK(is_contiguous(), "view {} as {}: the tensor is not contiguous (use reshape)", describe(),
              shape_str(shape));
  return autograd_hooks("Tensor::view").reshape(*this, shape);
}

Tensor Tensor::transpose(int64_t axis0, int64_t axis1) const {
  return autograd_hooks("Tensor::transpose").transpose(*this, axis0, axis1);
}
Tensor Tensor::permute(const std::vector<int64_t>& axes) const {
  return autograd_hooks("Tensor::permute").permute(*this, axes);
}
Tensor Tensor::narrow(int64_t axis, int64_t start, int64_t length) const {
  return autograd_hooks("Tensor::narrow").narrow(*this, axis, start, length);
}
Tensor Tensor::slice(int64_t axis, int64_t start, int64_t end, int64_t step) const {
  return autograd_hooks("Tensor::slice").slice(*this, axis, start, end, step);
}
Tensor Tensor::select(int64_t axis, int64_t index) const {
  return autograd_hooks("Tensor::select").select(*this, axis, index);
}
Tensor Tensor::expand(const Shape& shape) const { return autograd_hooks("Tensor::expand").expand(*this, shape); }
Tensor Tensor::squeeze(int64_t axis) const { return autograd_hooks("Tensor::squeeze").squeeze(*this, axis); }
Tensor Tensor::unsqueeze(int64_t axis) const { return autograd_hooks("Tensor::unsqueeze").unsqueeze(*this, axis); }
Tensor Tensor::contiguous() const { return autograd_hooks("Tensor::contiguous").contiguous(*this); }
Tensor Tensor::clone() const { return autograd_hooks("Tensor::clone").clone(*this); }
Tensor Tensor::to(Device device) const { return autograd_hooks("Tensor::to").to_device(*this, device); }
Tensor Tensor::to(DType dtype) const { return autograd_hooks("Tensor::to").to_dtype(*this, dtype); }

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  autograd_hooks("Tensor::backward").backward(*this, gradient, retain_graph);
}

// ---- values and in-place writes (BackendHooks) -------------------------------------------

namespace {

// A contiguous host copy in dtype T (x itself when it already is one).
template <typename T> Tensor host_contiguous(const Tensor& x, const char* member) {
  if (x.device().is_cpu() && x.dtype() == dtype_of<T>() && x.is_contiguous()) return x;
  return backend_hooks(member).convert(x, dtype_of<T>(), Device::cpu());
}

}  // namespace

double Tensor::item() const {
  RECUR_CHECK(numel() == 1, "item() needs a tensor with exactly one element, got {}", describe());
  return host_contiguous<double>(*this, "Tensor::item").data<double>()[0];
}

template <typename T> std::vector<T> Tensor::to_vector() const {
  const Tensor host = host_contiguous<T>(*this, "Tensor::to_vector");
  std::vector<T> values(static_cast<size_t>(host.numel()));
  if (!values.empty()) std::memcpy(values.data(), host.raw_data(), values.size() * sizeof(T));
  return values;
}

template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

Tensor& Tensor::fill_(double value) {
  backend_hooks("Tensor::fill_").fill(*this, value);
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  const BackendHooks& backend = backend_hooks("Tensor::copy_");
  Shape broadcast;
  try {
    broadcast = broadcast_shapes(src.shape(), shape());
  } catch (const Error&) {
    broadcast.clear();
  }
  RECUR_CHECK(broadcast == shape(), "copy_: source {} does not broadcast to destination {}", src.describe(),
              describe());
  // Another device: bring the source over first (converting its dtype on the way).
  const Tensor source = src.device() == device() ? src : backend.convert(src, dtype(), device());
  const size_t lead = shape().size() - source.shape().size();
  Strides strides(shape().size(), 0);
  for (size_t i = 0; i < source.shape().size(); ++i) {
    if (source.shape()[i] == shape()[lead + i]) strides[lead + i] = source.strides()[i];
  }
  backend.copy(*this, source.as_strided_raw(shape(), strides, source.offset()));
  return *this;
}

Generator& default_generator() {
  static Generator generator(0x5eed);
  return generator;
}

void manual_seed(uint64_t seed) { default_generator().set_state(seed, 0); }

}  // namespace recur
