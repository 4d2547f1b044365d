// The Tensor members and factories of core/tensor.h that compute: item, to_vector, fill_,
// copy_, and make_contiguous_tensor/empty/zeros/ones/full/arange/rand/randn/from_vector/
// scalar_tensor. They work on any device through its backend. (The differentiable views and copies are defined in
// autograd/tensor_methods.cpp; printing in backends/tensor_format.cpp.)
#include <cmath>
#include <cstring>

#include "backends/compute.h"

namespace recur {
namespace {

// A contiguous host copy in dtype T (x itself when it already is one).
template <typename T> Tensor host_contiguous(const Tensor& x) {
  if (x.device().is_cpu() && x.dtype() == dtype_of<T>() && x.is_contiguous()) return x;
  return compute::convert(x, dtype_of<T>(), Device::cpu());
}

Tensor with_options(Tensor t, const TensorOptions& options) {
  if (options.requires_grad) t.requires_grad_(true);
  return t;
}

}  // namespace

double Tensor::item() const {
  RECUR_CHECK(numel() == 1, "item() needs a tensor with exactly one element, got {}", describe());
  return host_contiguous<double>(*this).data<double>()[0];
}

template <typename T> std::vector<T> Tensor::to_vector() const {
  const Tensor host = host_contiguous<T>(*this);
  std::vector<T> values(static_cast<size_t>(host.numel()));
  if (!values.empty()) std::memcpy(values.data(), host.raw_data(), values.size() * sizeof(T));
  return values;
}

template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

Tensor& Tensor::fill_(double value) {
  backend_of(*this).fill(*this, value);
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  Shape broadcast;
  try {
    broadcast = broadcast_shapes(src.shape(), shape());
  } catch (const Error&) {
    broadcast.clear();
  }
  RECUR_CHECK(broadcast == shape(), "copy_: source {} does not broadcast to destination {}", src.describe(),
              describe());
  // Another device: bring the source over first (converting its dtype on the way).
  const Tensor source = src.device() == device() ? src : compute::convert(src, dtype(), device());
  const size_t lead = shape().size() - source.shape().size();
  Strides strides(shape().size(), 0);
  for (size_t i = 0; i < source.shape().size(); ++i) {
    if (source.shape()[i] == shape()[lead + i]) strides[lead + i] = source.strides()[i];
  }
  backend_of(*this).copy(*this, source.as_strided_raw(shape(), strides, source.offset()));
  return *this;
}

// ---- factories -------------------------------------------------------------------------

Tensor make_contiguous_tensor(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) RECUR_CHECK(d >= 0, "negative dimension in shape {}", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  const size_t nbytes = static_cast<size_t>(numel_of(shape)) * dtype_size(dtype);
  impl->storage = std::make_shared<Storage>(&allocator_for(device), device, nbytes);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor empty(const Shape& shape, TensorOptions options) {
  return with_options(make_contiguous_tensor(shape, options.dtype, options.device), options);
}

Tensor full(const Shape& shape, double value, TensorOptions options) {
  Tensor out = make_contiguous_tensor(shape, options.dtype, options.device);
  backend_of(out).fill(out, value);
  return with_options(out, options);
}

Tensor zeros(const Shape& shape, TensorOptions options) { return full(shape, 0.0, options); }
Tensor ones(const Shape& shape, TensorOptions options) { return full(shape, 1.0, options); }

Tensor zeros_like(const Tensor& like) { return zeros(like.shape(), {like.dtype(), like.device()}); }
Tensor ones_like(const Tensor& like) { return ones(like.shape(), {like.dtype(), like.device()}); }
Tensor empty_like(const Tensor& like) { return empty(like.shape(), {like.dtype(), like.device()}); }

Tensor scalar_tensor(double value, TensorOptions options) { return full({}, value, options); }

Tensor arange(double start, double end, double step, TensorOptions options) {
  RECUR_CHECK(step != 0.0 && std::isfinite(step) && std::isfinite(start) && std::isfinite(end),
              "arange: expected finite start, end and a nonzero step, got start={}, end={}, step={}", start, end, step);
  const double span = std::ceil((end - start) / step);
  RECUR_CHECK(span < 1e12, "arange: [{}, {}) with step {} has too many elements ({})", start, end, step, span);
  const int64_t count = span > 0 ? static_cast<int64_t>(span) : 0;
  std::vector<double> values(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) values[i] = start + static_cast<double>(i) * step;
  return from_vector(values, {count}, options);
}

Tensor rand(const Shape& shape, TensorOptions options, Generator* generator, double low, double high) {
  RECUR_CHECK(is_floating(options.dtype), "rand: expected a floating-point dtype, got {}", options.dtype);
  Generator& stream = generator != nullptr ? *generator : default_generator();
  Tensor out = make_contiguous_tensor(shape, options.dtype, options.device);
  const uint64_t first_block = stream.reserve(static_cast<uint64_t>(out.numel()));
  backend_of(out).fill_uniform(out, stream.seed(), first_block, low, high);
  return with_options(out, options);
}

Tensor randn(const Shape& shape, TensorOptions options, Generator* generator, double mean, double std) {
  RECUR_CHECK(is_floating(options.dtype), "randn: expected a floating-point dtype, got {}", options.dtype);
  Generator& stream = generator != nullptr ? *generator : default_generator();
  Tensor out = make_contiguous_tensor(shape, options.dtype, options.device);
  const uint64_t first_block = stream.reserve(static_cast<uint64_t>(out.numel()));
  backend_of(out).fill_normal(out, stream.seed(), first_block, mean, std);
  return with_options(out, options);
}

template <typename T> Tensor from_vector(const std::vector<T>& values, const Shape& shape, TensorOptions options) {
  RECUR_CHECK(static_cast<int64_t>(values.size()) == numel_of(shape),
              "from_vector: {} values cannot fill shape {} ({} elements)", values.size(), shape_str(shape),
              numel_of(shape));
  Tensor host = make_contiguous_tensor(shape, dtype_of<T>(), Device::cpu());
  if (!values.empty()) std::memcpy(host.raw_data(), values.data(), values.size() * sizeof(T));
  Tensor out = host.dtype() == options.dtype && options.device.is_cpu()
                   ? host
                   : compute::convert(host, options.dtype, options.device);
  return with_options(out, options);
}

template Tensor from_vector<float>(const std::vector<float>&, const Shape&, TensorOptions);
template Tensor from_vector<double>(const std::vector<double>&, const Shape&, TensorOptions);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, const Shape&, TensorOptions);

}  // namespace recur
