// The regularizers of AWD-LSTM (Merity, Keskar and Socher 2017) that act outside the RNN, as
// examples/lm/model.h applies them while training. T = time steps, B = batch, V = vocabulary
// size, F = features (E for the embedding output, R for the RNN's output).
//
//   embedding dropout (--dropout-e, p_e): whole rows of the embedding matrix are zeroed for a
//     batch, the others scaled by 1 / (1 - p_e): a word is dropped everywhere it occurs in the
//     batch. One mask [V, 1] per batch, on the lookup only (a tied head keeps the whole matrix).
//   variational (locked) dropout (--dropout-i on the embedding output, --dropout-o on the last
//     layer's output): one mask [1, B, F] per batch, the same at every time step, scaled by
//     1 / (1 - p).
// Inside the RNN (nn::RNNOptions, drawn from the RNN's dropout stream): locked dropout between
// layers (--dropout-h, variational_dropout) and weight dropout on every W_hh (--wdrop,
// weight_dropout).
//   activation regularization (--ar, alpha): alpha * mean(y_o^2), y_o the last layer's output
//     after --dropout-o;
//   temporal activation regularization (--tar, beta): beta * mean((y_t - y_{t-1})^2), y the last
//     layer's output before dropout, over t = 1 .. T-1 (0 when T = 1).
// The penalties are added to the loss that is minimised, not to the loss that is reported.
#pragma once

#include <cstdint>

#include "core/device.h"
#include "core/philox.h"
#include "core/tensor.h"
#include "nn/rnn_functional.h"

namespace recur::lm {

// Masks given instead of drawn (tests compare with PyTorch so); an undefined one is drawn.
struct DropoutMasks {
  Tensor embedding;         // [V, 1]
  Tensor input;             // [1, B, E]
  Tensor output;            // [1, B, R]
  nn::RNNDropoutMasks rnn;  // the RNN's: between layers (--dropout-h) and on W_hh (--wdrop)
};

// keep = 1 - p: each element 1 / keep with probability keep, else 0, from the generator.
Tensor dropout_mask(const Shape& shape, const Tensor& like, double p, Generator& generator);

// A locked mask [1, B, F] for a batch of B streams: nn::batch_dropout_mask's, so that under data
// parallelism a rank's mask is its streams' slice of the whole batch's.
Tensor locked_dropout_mask(int64_t batch, int64_t features, const Tensor& like, double p, Generator& generator);

// alpha * mean(dropped^2) + beta * mean((y[1:] - y[:-1])^2), y = undropped [T, B, R]; the terms
// whose coefficient is 0 are left out; an undefined tensor when both are.
Tensor activation_penalty(const Tensor& dropped, const Tensor& undropped, double alpha, double beta);

}  // namespace recur::lm
