// A Keras character-level language model (Embedding -> LSTM or GRU layers -> Dense) from a
// TensorFlow checkpoint, as recur's language model (examples/lm/model.h), so that `recur sample`
// and `recur eval` run it.
//
// V = vocabulary size, E = embedding size, R = the RNN's output size.
//   SCOPE/embeddings [V, E]   -> embedding.weight
//   the recurrent layers      -> rnn.* (nn::convert_tf_rnn, nn/tf_rnn_convert.h; unidirectional)
//   SCOPE/kernel [R, V], SCOPE/bias [V] (the Dense layer, among the tensors of no cell)
//                             -> head.weight = kernel.T, head.bias
// The token ids are the vocabulary's: recur's vocabulary is sorted (examples/lm/vocab.h), so the
// Keras model's ids must be the sorted symbols, as `sorted(set(text))` gives them; V must equal
// the vocabulary's size. A Dense activation (softmax) is left out: recur's head gives logits, and
// sampling and the loss take their softmax.
#pragma once

#include <string>
#include <vector>

#include "examples/lm/model.h"
#include "examples/lm/vocab.h"
#include "nn/tf_rnn_convert.h"

namespace recur::lm {

struct TfLanguageModel {
  ModelConfig config;
  nn::StateDict weights;             // the language model's names (embedding.weight, rnn.*, head.*)
  std::vector<std::string> mapping;  // the embedding's and the head's sources (the RNN's are rnn's)
};

TfLanguageModel convert_tf_language_model(const nn::TfCheckpoint& checkpoint, const nn::TfConversion& rnn,
                                          const Vocabulary& vocab);

}  // namespace recur::lm
