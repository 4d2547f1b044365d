// The multi-layer RNN on cuDNN's fused kernels (v8/v9 API only): cudnnRNNForward, then
// cudnnRNNBackwardData_v8 and cudnnRNNBackwardWeights_v8 in one autograd node whose closure
// keeps the reserve space from forward to backward.
//
// T = time steps, B = batch, I = input size, H = hidden size, R = H or the projection size,
// L = layers, D = directions.
//
// Weights: on a GPU, nn::RNN's flat parameter buffer *is* cuDNN's weight space: its
// flatten_parameters() lays the buffer out with cudnn_weight_space() (the per-matrix addresses
// come from cudnnGetRNNWeightParams) and registers each weight as a view at cuDNN's address,
// so forward hands the buffer to cuDNN as it is and backward's weight gradients are views of
// cuDNN's gradient space. Weights that are not laid out so (functional callers, forget_bias,
// a layout cuDNN splits differently) are packed into a fresh weight space per call, one
// device-to-device copy per matrix, and the gradient is scattered back the same way.
//
// Options cuDNN lacks (peepholes, proj_clip, cell_clip, a ReLU LSTM activation, the
// reset-before-linear GRU, a GRU with skip input and biases) are reported by cudnn_supports();
// the caller then runs the cell graph on the GPU. forget_bias is folded into the forget gate's
// input bias.
// Dropout between layers uses a seeded cuDNN dropout descriptor: its masks are cuDNN's, not the
// CPU's Philox stream.
//
// In a build without the CUDA backend, cudnn_supports() answers false and rnn_forward_cudnn()
// throws.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "nn/rnn_functional.h"

namespace recur::nn {

// Whether cuDNN runs these options on `device` (a CUDA device); else `why` says what it lacks.
bool cudnn_supports(const RNNOptions& options, Device device, std::string* why = nullptr);

// cuDNN's weight space for these options on `device` (zeros), with, per layer-direction in
// nn::RNN's order, the element offset of weight_ih, weight_hh, bias_ih, bias_hh and weight_hr
// (-1 when the options have none): nullopt when cuDNN cannot run the options or does not keep
// each of recur's weights as one contiguous block, gates in recur's order.
struct CudnnWeightSpace {
  Tensor space;
  std::vector<std::array<int64_t, 5>> offsets;
};
std::optional<CudnnWeightSpace> cudnn_weight_space(const RNNOptions& options, Device device, DType dtype);

// x_tbi [T, B, I] (time-major) on a CUDA device; h0 [L*D, B, R] and c0 [L*D, B, H] may be
// undefined (zeros); lengths an optional int64 [B] on the host (values 1..T, already checked and
// read once by rnn_forward). Returns
// output [T, B, D*R], h_n and c_n. The arguments were checked by rnn_forward.
RNNOutput rnn_forward_cudnn(const RNNOptions& options, const std::vector<CellWeights>& weights, const Tensor& x_tbi,
                            const Tensor& h0, const Tensor& c0, const Tensor& lengths, bool training,
                            Generator* generator);

}  // namespace recur::nn
