// Linear, Embedding, Dropout and LayerNorm.
#include "nn/layers.h"

#include <fmt/format.h>

#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "nn/init.h"

namespace recur::nn {

namespace {

TensorOptions parameter_options(DType dtype, Device device) {
  return TensorOptions{}.with_dtype(dtype).with_device(device);
}

void check_parameter_dtype(const char* layer, DType dtype) {
  RECUR_CHECK(is_floating(dtype), "{}: parameters must be floating point, got dtype {}", layer, dtype);
}

}  // namespace

// ---- Linear ------------------------------------------------------------------------------------

Linear::Linear(int64_t in_features, int64_t out_features, LinearOptions options)
    : in_features_(in_features), out_features_(out_features) {
  RECUR_CHECK(in_features > 0 && out_features > 0,
              "Linear: in_features and out_features must be positive, got in_features={} out_features={}", in_features,
              out_features);
  check_parameter_dtype("Linear", options.dtype);
  const TensorOptions tensor_options = parameter_options(options.dtype, options.device);
  weight = register_parameter("weight", empty({out_features, in_features}, tensor_options));
  // kaiming_uniform_(a = sqrt(5)): bound = sqrt(2 / (1 + 5)) * sqrt(3 / in) = 1 / sqrt(in)
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::FanIn, init::Nonlinearity::LeakyRelu,
                         options.generator);
  if (options.bias) {
    bias = register_parameter("bias", empty({out_features}, tensor_options));
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    init::uniform_(bias, -bound, bound, options.generator);
  }
}

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", in_features_, out_features_, bias.defined());
}

Tensor Linear::forward(const Tensor& x) {
  RECUR_CHECK(x.dim() >= 1 && x.size(-1) == in_features_,
              "Linear: input {} has {} features, the layer was built for in_features={}", x.describe(),
              x.dim() >= 1 ? x.size(-1) : 0, in_features_);
  return linear(x, weight, bias);
}

// ---- Embedding ---------------------------------------------------------------------------------

Embedding::Embedding(int64_t num_embeddings, int64_t embedding_dim, EmbeddingOptions options)
    : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim), padding_idx_(options.padding_idx) {
  RECUR_CHECK(num_embeddings > 0 && embedding_dim > 0,
              "Embedding: num_embeddings and embedding_dim must be positive, got num_embeddings={} embedding_dim={}",
              num_embeddings, embedding_dim);
  RECUR_CHECK(padding_idx_ == -1 || (padding_idx_ >= 0 && padding_idx_ < num_embeddings),
              "Embedding: padding_idx must be -1 (none) or in [0, {}), got {}", num_embeddings, padding_idx_);
  check_parameter_dtype("Embedding", options.dtype);
  weight = register_parameter("weight",
                              empty({num_embeddings, embedding_dim}, parameter_options(options.dtype, options.device)));
  init::normal_(weight, 0.0, 1.0, options.generator);
  if (padding_idx_ >= 0) {
    NoGradGuard no_grad;
    weight.detach().select(0, padding_idx_).fill_(0.0);
  }
}

std::string Embedding::extra_repr() const {
  std::string text = fmt::format("{}, {}", num_embeddings_, embedding_dim_);
  if (padding_idx_ >= 0) text += fmt::format(", padding_idx={}", padding_idx_);
  return text;
}

Tensor Embedding::forward(const Tensor& indices) {
  RECUR_CHECK(indices.defined() && indices.dtype() == DType::Int64, "Embedding: indices must be int64, got {}",
              indices.defined() ? indices.describe() : std::string("an undefined tensor"));
  return embedding(weight, indices, padding_idx_);
}

// ---- Dropout -----------------------------------------------------------------------------------

namespace {
// 64 bits from the default generator's stream (one Philox block).
uint64_t draw_seed() {
  Generator& source = default_generator();
  const auto block = Philox::block(source.seed(), source.reserve(4));
  return (static_cast<uint64_t>(block[0]) << 32) | block[1];
}
}  // namespace

Dropout::Dropout(double p, std::optional<uint64_t> seed) : p_(p), generator_(seed ? *seed : draw_seed()) {
  RECUR_CHECK(p >= 0.0 && p <= 1.0, "Dropout: probability must be in [0, 1], got {}", p);
}

std::string Dropout::extra_repr() const { return fmt::format("p={}", p_); }

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p_, is_training(), &generator_); }

// ---- LayerNorm ---------------------------------------------------------------------------------

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  RECUR_CHECK(k >= 1, "layer_norm: normalized_shape must have at least one dimension");
  const bool fits = x.dim() >= k && Shape(x.shape().end() - k, x.shape().end()) == normalized_shape;
  RECUR_CHECK(fits, "layer_norm: input {} must end with the normalized shape {}", x.describe(),
              shape_str(normalized_shape));
  RECUR_CHECK(!weight.defined() || weight.shape() == normalized_shape,
              "layer_norm: weight must have the normalized shape {}, got {}", shape_str(normalized_shape),
              weight.describe());
  RECUR_CHECK(!bias.defined() || bias.shape() == normalized_shape,
              "layer_norm: bias must have the normalized shape {}, got {}", shape_str(normalized_shape),
              bias.describe());
  std::vector<int64_t> axes;
  for (int64_t axis = -k; axis < 0; ++axis) axes.push_back(axis);
  // mu = mean(x), xc = x - mu, var = mean(xc^2), y = xc * (var + eps)^(-1/2)
  Tensor centered = x - mean(x, axes, /*keepdim=*/true);
  Tensor variance = mean(square(centered), axes, /*keepdim=*/true);
  Tensor y = centered * pow(variance + eps, -0.5);
  if (weight.defined()) y = y * weight;  // weight and bias broadcast over the leading axes
  if (bias.defined()) y = y + bias;
  return y;
}

LayerNorm::LayerNorm(Shape normalized_shape, LayerNormOptions options)
    : normalized_shape_(std::move(normalized_shape)), eps_(options.eps) {
  RECUR_CHECK(!normalized_shape_.empty(), "LayerNorm: normalized_shape must have at least one dimension");
  for (int64_t size : normalized_shape_) {
    RECUR_CHECK(size > 0, "LayerNorm: normalized_shape must be positive, got {}", shape_str(normalized_shape_));
  }
  RECUR_CHECK(options.eps >= 0.0, "LayerNorm: eps must be >= 0, got {}", options.eps);
  check_parameter_dtype("LayerNorm", options.dtype);
  if (options.elementwise_affine) {
    const TensorOptions tensor_options = parameter_options(options.dtype, options.device);
    weight = register_parameter("weight", ones(normalized_shape_, tensor_options));
    bias = register_parameter("bias", zeros(normalized_shape_, tensor_options));
  }
}

std::string LayerNorm::extra_repr() const {
  return fmt::format("{}, eps={}, elementwise_affine={}", shape_str(normalized_shape_), eps_, weight.defined());
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, normalized_shape_, weight, bias, eps_); }

}  // namespace recur::nn
