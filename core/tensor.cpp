#include "core/tensor.h"

#include <mutex>

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

Generator& default_generator() {
  static Generator generator(0x5eed);
  return generator;
}

void manual_seed(uint64_t seed) { default_generator().set_state(seed, 0); }

}  // namespace recur
