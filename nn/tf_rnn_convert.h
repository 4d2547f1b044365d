// TensorFlow's recurrent weights, read from a checkpoint (nn/tf_checkpoint.h), as recur::nn::RNN's
// weights and options (docs/RNN.md, "Converting a TensorFlow checkpoint").
//
// The layouts recognised, by the variables' names (a tf.train.Checkpoint's
// "/.ATTRIBUTES/VARIABLE_VALUE" suffix dropped); SCOPE is any prefix:
//   Keras LSTM / GRU layer   SCOPE/kernel [I, G*H], SCOPE/recurrent_kernel [H, G*H], SCOPE/bias
//                            ([4H] LSTM, [2, 3H] GRU with reset_after, [3H] without)
//   LSTMCell                 SCOPE/kernel [I + R, 4H], SCOPE/bias [4H] where SCOPE ends in
//                            "lstm_cell" (CudnnLSTM's canonical cudnn_compatible_lstm_cell too),
//                            optionally SCOPE/w_i_diag, w_f_diag, w_o_diag [H] and
//                            SCOPE/projection/kernel [H, R]
//   CudnnCompatibleGRUCell   SCOPE/gates/kernel [I + H, 2H], SCOPE/gates/bias [2H],
//                            SCOPE/candidate/{input,hidden}_projection/{kernel,bias}
// Gate order: LSTMCell's (i, j, f, o) becomes recur's (i, f, g, o); Keras' LSTM is (i, f, c, o)
// already; Keras' GRU (z, r, h) becomes (r, z, n); CudnnCompatibleGRUCell's gates are (r, u).
// Kernels are split into weight_ih (the input rows) and weight_hh (the recurrent rows), each
// transposed. A bias TensorFlow has once goes to bias_ih, with bias_hh zero; the GRU's hidden
// projection bias goes to bias_hh's n block. LSTMCell adds forget_bias (1.0 by default) at run
// time, which no checkpoint holds: the conversion folds it into bias_ih's f block (0 for
// CudnnCompatibleLSTMCell, which has none, and for Keras, whose unit_forget_bias is in the bias).
//
// Layers and directions: a scope component "bw" or "backward..." marks the reverse direction,
// "fw" or "forward..." the forward one; the scopes with that component removed are the layers,
// in natural order ("cell_2" before "cell_10", "lstm" before "lstm_1"). Every cell must agree on
// mode, sizes and options, and each layer's input must be the previous layer's output.
// Variables of no cell (an embedding, a dense layer, a step counter) are left out and listed.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nn/rnn_options.h"
#include "nn/state_dict.h"
#include "nn/tf_checkpoint.h"

namespace recur::nn {

struct TfConvertOptions {
  // LSTMCell's forget_bias (TensorFlow's default 1.0 when unset), folded into bias_ih.
  std::optional<double> forget_bias;
  // Only variables whose names start with this (after the checkpoint suffix is dropped).
  std::string scope;
  // LSTMCell's run-time options, which no checkpoint holds, set on the RNN's options as given
  // (0 = none; tanh).
  double cell_clip = 0.0;
  double proj_clip = 0.0;
  Activation activation = Activation::Tanh;
};

struct TfConversion {
  RNNOptions options;
  StateDict weights;                  // recur's names, float32 or float64 (half and bfloat16 become float32)
  std::string layout;                 // "keras_lstm", "keras_gru", "lstm_cell", "cudnn_compatible_gru_cell"
  double forget_bias_folded = 0.0;    // added to bias_ih's f blocks
  std::vector<std::string> mapping;   // one line per recur weight: where it came from
  std::vector<std::string> left_out;  // the checkpoint's tensors that are no part of a cell
};

TfConversion convert_tf_rnn(const TfCheckpoint& checkpoint, const TfConvertOptions& options = {});

// A checkpoint entry's variable name: a tf.train.Checkpoint's "/.ATTRIBUTES/VARIABLE_VALUE" dropped.
std::string tf_variable_name(const std::string& entry_name);

}  // namespace recur::nn
