// TensorFlow's initialisation of an RNN, besides PyTorch's (which the nn::RNN constructor draws:
// every weight U(-1/sqrt(H), 1/sqrt(H))).
//
// CudnnLSTM's defaults, kernel_initializer = Glorot uniform and bias_initializer = zeros, applied
// per canonical matrix (docs/RNN.md): each gate's input matrix [H, I] and recurrent matrix
// [H, R] on its own, U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) (fan_in = its columns,
// fan_out = H), the projection [P, H] likewise; the peepholes (LSTMCell's w_*_diag, vectors of H)
// U(-sqrt(3 / H), sqrt(3 / H)), TensorFlow's Glorot fans of a vector; every bias zero.
#pragma once

#include "core/philox.h"
#include "nn/rnn.h"

namespace recur::nn {

// Redraws every weight of `rnn` in place (its parameter handles stay valid), in the order of the
// canonical weights, from `generator` (the default one when null).
void init_rnn_tensorflow_(RNN& rnn, Generator* generator = nullptr);

}  // namespace recur::nn
