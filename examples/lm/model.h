// The language model (characters, bytes or words): Embedding -> RNN -> Dropout -> Linear head.
//
// T = time steps, B = batch (streams), V = vocabulary size, E = embedding size, R = the RNN's
// output size (hidden_size, or proj_size with a projection).
//
//   tokens [T, B] int64 -> embedding [T, B, E] -> rnn [T, B, R] -> dropout -> head [T, B, V]
//
// While training, AWD-LSTM's regularizers (examples/lm/regularization.h) apply when asked for:
// embedding dropout on the matrix the lookup reads (dropout_e), locked dropout on the embedding
// output (dropout_i) and on the RNN's output (dropout_o, before `dropout`), and the AR and TAR
// penalties of the RNN's output (activation_penalty()).
//
// With tie_weights (Press and Wolf 2017; Inan et al. 2017) the head's weight is the embedding
// matrix itself, so R must equal E: logits = y W_emb^T + b. The matrix is one parameter, which
// gets the gradient of both uses, is saved once ("embedding.weight", no "head.weight") and
// starts as the head's weight would (uniform in +-1/sqrt(E)) rather than N(0, 1), which would
// make the first logits far too large.
//
// The state dict uses PyTorch's names, so model.safetensors loads into a torch.nn.Module with
// the attributes `embedding` (nn.Embedding), `rnn` (nn.LSTM, nn.GRU or nn.RNN) and `head`
// (nn.Linear): "embedding.weight", "rnn.weight_ih_l0", ..., "head.weight", "head.bias".
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "examples/lm/regularization.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "nn/rnn.h"

namespace recur::lm {

struct ModelConfig {
  int64_t vocab_size = 0;
  int64_t embedding_dim = 64;
  double dropout = 0.0;      // after the RNN (the RNN's own dropout, between layers, is rnn.dropout)
  bool tie_weights = false;  // the head's weight is the embedding matrix (R must equal E)
  // AWD-LSTM's regularizers (regularization.h), while training only; 0 = off.
  double dropout_e = 0.0;  // embedding dropout: whole words, one mask [V, 1] per batch
  double dropout_i = 0.0;  // locked dropout on the embedding output, one mask [1, B, E] per batch
  double dropout_o = 0.0;  // locked dropout on the RNN's output, one mask [1, B, R] per batch
  double ar = 0.0;         // alpha of activation regularization
  double tar = 0.0;        // beta of temporal activation regularization
  nn::RNNOptions rnn;      // input_size = embedding_dim; always unidirectional, sequence-first

  // Throws recur::Error naming the option (a bidirectional RNN is refused: it would see the
  // characters it must predict).
  void validate() const;
  // "2-layer LSTM, hidden 256, embedding 64, vocabulary 65": for messages.
  std::string summary() const;
};

void to_json(nlohmann::json& j, const ModelConfig& config);
void from_json(const nlohmann::json& j, ModelConfig& config);
// The first difference between two configurations ("hidden_size: 256 in the checkpoint, 512
// requested"), or "" when they describe the same model.
std::string config_difference(const ModelConfig& saved, const ModelConfig& requested);

// The names and shapes of the state dict of a model with this configuration, computed without
// building it: "embedding.weight" [V, E], "rnn.*" (nn::rnn_weight_shapes), "head.weight" [V, R]
// (not with tie_weights), "head.bias" [V]. One entry per weight: a caller bounds config.rnn.num_layers first when the
// configuration comes from a file. Throws recur::Error like validate().
std::vector<nn::RNNWeightShape> weight_shapes(const ModelConfig& config);

// The head: logits = y W^T + b, W [V, R] its own parameter ("weight", as nn::Linear's and drawn
// as nn::Linear draws it) or, tied, the embedding matrix, which the head uses but does not own.
class Head : public nn::Module {
 public:
  // tied: the embedding matrix [V, R], or an undefined tensor for a weight of its own.
  Head(int64_t in_features, int64_t vocab_size, const Tensor& tied, Generator* generator);
  std::string name() const override { return "Head"; }
  Tensor forward(const Tensor& y) const;

  Tensor weight;  // [V, R]: the head's own, or the embedding's matrix (not registered here)
  Tensor bias;    // [V]
};

class LanguageModel : public nn::Module {
 public:
  // Initialises every weight from Generator(seed) (PyTorch's schemes); the dropout masks come
  // from two further streams derived from the seed.
  LanguageModel(const ModelConfig& config, uint64_t seed);
  std::string name() const override { return "LanguageModel"; }

  // tokens: int64 [T, B]; state: the RNN's (undefined tensors = zeros). Returns the logits
  // [T, B, V] and the final state. While training, `masks` (tests) replace the drawn dropout
  // masks of the regularizers.
  std::pair<Tensor, nn::RNNState> forward(const Tensor& tokens, const nn::RNNState& state,
                                          const DropoutMasks* masks = nullptr);
  // The AR and TAR penalties of the last training forward (to add to the loss before backward),
  // or an undefined tensor when they are off or the model is not training.
  const Tensor& activation_penalty() const { return penalty_; }

  const ModelConfig& config() const { return config_; }
  // The random streams whose state a checkpoint must keep, by name (the regularizers' only when
  // they are on, so that older checkpoints resume).
  std::vector<std::pair<std::string, Generator*>> generators();

  std::shared_ptr<nn::Embedding> embedding;
  std::shared_ptr<nn::RNN> rnn;
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<Head> head;

 private:
  ModelConfig config_;
  Generator locked_dropout_, embedding_dropout_;
  Tensor penalty_;
};

}  // namespace recur::lm
