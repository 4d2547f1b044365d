// One time step of each recurrent cell, written with differentiable ops (the reference "cell
// graph"; recur::nn::RNN unrolls these, and the cell modules wrap them).
//
// B = batch, I = input size, H = hidden size, P = projection size, G = gates (4 LSTM, 3 GRU,
// 1 RNN). Gate order and weight layout are the canonical (cuDNN linLayerID, PyTorch) ones:
//   LSTM  weight_ih [4H, I] = (W_i; W_f; W_g; W_o), weight_hh [4H, H or P] = (R_i; R_f; R_g; R_o)
//   GRU   weight_ih [3H, I] = (W_r; W_z; W_n),      weight_hh [3H, H]      = (R_r; R_z; R_n)
//   RNN   weight_ih [H, I],                         weight_hh [H, H]
// each with bias_ih and bias_hh of [G*H] (two biases per gate, as cuDNN), and for a projecting
// LSTM weight_hr [P, H]. Peephole weights (LSTM, optional) are weight_peephole [3, H] = (p_i; p_f; p_o).
//
// LSTM (TensorFlow's LSTMCell options; with none set it is cuDNN's and PyTorch's LSTM):
//   a_k = W_k x + b_Wk + R_k h_{t-1} + b_Rk                for k in i, f, g, o
//   i = sigmoid(a_i + p_i * c_{t-1})
//   f = sigmoid(a_f + forget_bias + p_f * c_{t-1})
//   g = act(a_g)                                           act = tanh (or relu)
//   c_t = f * c_{t-1} + i * g,  then c_t = clamp(c_t, -cell_clip, cell_clip) when cell_clip > 0
//   o = sigmoid(a_o + p_o * c_t)
//   h_t = o * act(c_t),  then h_t = W_hr h_t (projection) and clamp(h_t, -proj_clip, proj_clip)
// GRU, linear_before_reset (cuDNN, PyTorch, TensorFlow's CudnnCompatibleGRUCell):
//   r = sigmoid(W_r x + b_Wr + R_r h + b_Rr)
//   z = sigmoid(W_z x + b_Wz + R_z h + b_Rz)
//   n = tanh(W_n x + b_Wn + r * (R_n h + b_Rn))
//   h_t = (1 - z) * n + z * h_{t-1}
// GRU, reset_before_linear (the original paper, TensorFlow's GRUCell):
//   n = tanh(W_n x + b_Wn + R_n (r * h) + b_Rn)            r and z as above
// RNN:  h_t = act(W x + b_W + R h_{t-1} + b_R)              act = tanh or relu
//
// skip_input (cuDNN's CUDNN_SKIP_INPUT, first layer only, I == H): W_k x is replaced by x for
// every gate; the layer has no weight_ih.
#pragma once

#include "core/tensor.h"
#include "nn/rnn_options.h"

namespace recur::nn {

struct CellWeights {
  Tensor weight_ih;  // undefined with skip_input
  Tensor weight_hh;
  Tensor bias_ih, bias_hh;  // undefined without bias
  Tensor weight_hr;         // projection, LSTM only
  Tensor weight_peephole;   // [3, H], LSTM only
};

struct CellState {
  Tensor h;  // [B, H or P]
  Tensor c;  // [B, H], LSTM only
};

// The input part of the gates for x [N, I] -> [N, G*H]: W x + b_W + b_R (both biases folded
// here so the recurrent part is one GEMM). With skip_input: x repeated for each gate.
Tensor input_gates(const Tensor& x, const CellWeights& w, const RNNOptions& options);

// One step from precomputed input gates xg [B, G*H] (from input_gates, biases included).
CellState cell_step(const Tensor& xg, const CellState& state, const CellWeights& w, const RNNOptions& options);

}  // namespace recur::nn
