// The basic layers: Linear, Embedding, Dropout, LayerNorm.
//
// Each layer's parameters are created with the dtype and device of its options and initialised
// from options.generator (the default generator, recur::manual_seed, when null), so that two
// layers built from the same seed are identical. Options use designated initialisers:
//   nn::Linear head(256, 65, {.bias = false, .dtype = DType::Float64});
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/tensor.h"
#include "nn/module.h"

namespace recur::nn {

// ---- Linear ------------------------------------------------------------------------------------

struct LinearOptions {
  bool bias = true;
  DType dtype = DType::Float32;
  Device device = Device::cpu();
  Generator* generator = nullptr;  // the initialisation stream
};

// y = x W^T + b over the last axis of x: x [..., in_features] -> y [..., out_features].
// W [out_features, in_features] and b [out_features] start as PyTorch's: U(-k, k), k = 1 / sqrt(in_features)
// (kaiming_uniform_ with a = sqrt(5) for W; the same bound for b).
class Linear : public UnaryModule {
 public:
  Linear(int64_t in_features, int64_t out_features, LinearOptions options = {});
  std::string name() const override { return "Linear"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) override;

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }

  Tensor weight;  // [out_features, in_features]
  Tensor bias;    // [out_features], undefined when options.bias is false

 private:
  int64_t in_features_, out_features_;
};

// ---- Embedding ---------------------------------------------------------------------------------

struct EmbeddingOptions {
  int64_t padding_idx = -1;  // a row kept at zero that receives no gradient; -1 = none
  DType dtype = DType::Float32;
  Device device = Device::cpu();
  Generator* generator = nullptr;
};

// y[..., :] = weight[indices[...], :]: int64 indices of any shape -> indices.shape + [dim].
// weight [num_embeddings, embedding_dim] starts N(0, 1), the padding row at zero.
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, EmbeddingOptions options = {});
  std::string name() const override { return "Embedding"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& indices);
  Tensor operator()(const Tensor& indices) { return forward(indices); }

  int64_t num_embeddings() const { return num_embeddings_; }
  int64_t embedding_dim() const { return embedding_dim_; }
  int64_t padding_idx() const { return padding_idx_; }

  Tensor weight;  // [num_embeddings, embedding_dim]

 private:
  int64_t num_embeddings_, embedding_dim_, padding_idx_;
};

// ---- Dropout -----------------------------------------------------------------------------------

// Inverted dropout while training (zero with probability p, scale the rest by 1 / (1 - p)); the
// identity in eval mode. The masks come from the layer's own Philox stream, seeded by `seed` or,
// when none is given, by a seed drawn from the default generator.
class Dropout : public UnaryModule {
 public:
  explicit Dropout(double p = 0.5, std::optional<uint64_t> seed = std::nullopt);
  std::string name() const override { return "Dropout"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) override;

  double p() const { return p_; }
  Generator& generator() { return generator_; }
  void set_seed(uint64_t seed) { generator_.set_state(seed, 0); }

 private:
  double p_;
  Generator generator_;
};

// ---- LayerNorm ---------------------------------------------------------------------------------

struct LayerNormOptions {
  double eps = 1e-5;
  bool elementwise_affine = true;  // learn weight (ones) and bias (zeros) of normalized_shape
  DType dtype = DType::Float32;
  Device device = Device::cpu();
};

// Normalises over the last normalized_shape.size() axes (K = their element count):
//   mu = mean(x), var = mean((x - mu)^2) (biased), y = (x - mu) / sqrt(var + eps) * weight + bias
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);

class LayerNorm : public UnaryModule {
 public:
  explicit LayerNorm(Shape normalized_shape, LayerNormOptions options = {});
  std::string name() const override { return "LayerNorm"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) override;

  const Shape& normalized_shape() const { return normalized_shape_; }

  Tensor weight;  // normalized_shape, undefined without elementwise_affine
  Tensor bias;

 private:
  Shape normalized_shape_;
  double eps_;
};

}  // namespace recur::nn
