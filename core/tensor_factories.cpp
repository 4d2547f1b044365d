// The factories of core/tensor.h: memory from the device's allocator, values written by its
// backend (BackendHooks, core/tensor_hooks.h).
#include <cmath>
#include <cstring>

#include "core/tensor.h"
#include "core/tensor_hooks.h"

namespace recur {
namespace {

Tensor with_options(Tensor t, const TensorOptions& options) {
  if (options.requires_grad) t.requires_grad_(true);
  return t;
}

enum class Distribution : uint8_t { Uniform, Normal };

// rand (a, b = low, high) and randn (a, b = mean, std), from counter blocks of the Philox stream
// that no earlier draw used.
Tensor random_tensor(Distribution distribution, const Shape& shape, const TensorOptions& options, Generator* generator,
                     double a, double b) {
  const char* name = distribution == Distribution::Uniform ? "rand" : "randn";
  RECUR_CHECK(is_floating(options.dtype), "{}: expected a floating-point dtype, got {}", name, options.dtype);
  const BackendHooks& backend = backend_hooks(name);
  Generator& stream = generator != nullptr ? *generator : default_generator();
  Tensor out = make_contiguous_tensor(shape, options.dtype, options.device);
  const uint64_t first_block = stream.reserve(static_cast<uint64_t>(out.numel()));
  (distribution == Distribution::Uniform ? backend.fill_uniform : backend.fill_normal)(out, stream.seed(), first_block,
                                                                                       a, b);
  return with_options(out, options);
}

}  // namespace

Tensor make_contiguous_tensor(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) RECUR_CHECK(d >= 0, "negative dimension in shape {}", shape_str(shape));
  Allocator& allocator = backend_hooks("make_contiguous_tensor").allocator_for(device);
  auto impl = std::make_shared<TensorImpl>();
  const size_t nbytes = static_cast<size_t>(numel_of(shape)) * dtype_size(dtype);
  impl->storage = std::make_shared<Storage>(&allocator, device, nbytes);
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
  backend_hooks("full").fill(out, value);
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
  return random_tensor(Distribution::Uniform, shape, options, generator, low, high);
}

Tensor randn(const Shape& shape, TensorOptions options, Generator* generator, double mean, double std) {
  return random_tensor(Distribution::Normal, shape, options, generator, mean, std);
}

template <typename T> Tensor from_vector(const std::vector<T>& values, const Shape& shape, TensorOptions options) {
  RECUR_CHECK(static_cast<int64_t>(values.size()) == numel_of(shape),
              "from_vector: {} values cannot fill shape {} ({} elements)", values.size(), shape_str(shape),
              numel_of(shape));
  Tensor host = make_contiguous_tensor(shape, dtype_of<T>(), Device::cpu());
  if (!values.empty()) std::memcpy(host.raw_data(), values.data(), values.size() * sizeof(T));
  Tensor out = host.dtype() == options.dtype && options.device.is_cpu()
                   ? host
                   : backend_hooks("from_vector").convert(host, options.dtype, options.device);
  return with_options(out, options);
}

template Tensor from_vector<float>(const std::vector<float>&, const Shape&, TensorOptions);
template Tensor from_vector<double>(const std::vector<double>&, const Shape&, TensorOptions);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, const Shape&, TensorOptions);

}  // namespace recur
