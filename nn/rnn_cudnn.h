// The multi-layer RNN on cuDNN's fused kernels (v8/v9 API only): cudnnRNNForward, then
// cudnnRNNBackwardData_v8 and cudnnRNNBackwardWeights_v8 in one autograd node whose closure
// keeps the reserve space from forward to backward.
//
// T = time steps, B = batch, I = input size, H = hidden size, R = H or the projection size,
// L = layers, D = directions.
//
// Weights: recur's per-matrix parameters (views of nn::RNN's flat buffer, docs/RNN.md) stay the
// parameters. Each call packs them into a cuDNN weight space (the canonical per-matrix
// addresses come from cudnnGetRNNWeightParams) with one device-to-device copy per matrix, and
// backward scatters the weight-space gradient back the same way: one extra copy of the weights
// per call, in exchange for CPU <-> GPU moves that never reorder anything.
//
// Options cuDNN lacks (peepholes, proj_clip, a ReLU LSTM activation, the reset-before-linear
// GRU) are reported by cudnn_supports(); the caller then runs the cell graph on the GPU.
// forget_bias is folded into the forget gate's input bias; cell_clip uses cudnnRNNSetClip_v9.
// Dropout between layers uses a seeded cuDNN dropout descriptor: its masks are cuDNN's, not the
// CPU's Philox stream.
//
// In a build without the CUDA backend, cudnn_supports() answers false and rnn_forward_cudnn()
// throws.
#pragma once

#include <string>
#include <vector>

#include "nn/rnn_functional.h"

namespace recur::nn {

// Whether cuDNN runs these options on `device` (a CUDA device); else `why` says what it lacks.
bool cudnn_supports(const RNNOptions& options, Device device, std::string* why = nullptr);

// x_tbi [T, B, I] (time-major) on a CUDA device; h0 [L*D, B, R] and c0 [L*D, B, H] may be
// undefined (zeros); lengths an optional int64 [B] (values 1..T, already checked). Returns
// output [T, B, D*R], h_n and c_n. The arguments were checked by rnn_forward.
RNNOutput rnn_forward_cudnn(const RNNOptions& options, const std::vector<CellWeights>& weights, const Tensor& x_tbi,
                            const Tensor& h0, const Tensor& c0, const Tensor& lengths, bool training,
                            Generator* generator);

}  // namespace recur::nn
