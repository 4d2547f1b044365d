// The multi-layer recurrent computation behind recur::nn::RNN, as a function of explicit
// weights: the reference cell graph (every option), or the fused RNN of the input's backend
// (backends/rnn.h) where it supports the options: cuDNN runs the whole stack as one autograd
// node, the CPU one layer and direction per node.
//
// T = time steps, B = batch, I = input size, H = hidden size, R = H or the projection size,
// L = layers, D = directions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "backends/rnn.h"
#include "core/tensor.h"
#include "nn/rnn_cell_math.h"
#include "nn/rnn_options.h"

namespace recur::nn {

enum class RNNImpl : uint8_t { Auto, Cells, Fused };

std::string impl_name(RNNImpl impl);
RNNImpl parse_impl(const std::string& name);

struct RNNOutput {
  Tensor output;  // [T, B, D*R] ([B, T, D*R] with batch_first)
  Tensor h_n;     // [L*D, B, R]
  Tensor c_n;     // [L*D, B, H], LSTM only
};

// The backend descriptor of the whole stack of `options` in `dtype` (backends/rnn.h).
RnnDesc rnn_desc(const RNNOptions& options, DType dtype);
// Whether the device's backend runs these options fused, in `dtype` (else the cell graph runs;
// `why` says why).
bool fused_supports(const RNNOptions& options, Device device, std::string* why = nullptr, DType dtype = DType::Float32);
// The implementation Auto resolves to.
RNNImpl resolve_impl(const RNNOptions& options, Device device, RNNImpl requested, DType dtype = DType::Float32);
// The flat-buffer layout the device's fused RNN reads in place (cuDNN's weight space), or none
// for recur's own packing (nn::RNN::flatten_parameters).
std::optional<RnnWeightLayout> fused_weight_layout(const RNNOptions& options, Device device, DType dtype);

// The masks of variational_dropout and weight_dropout (RNNOptions) for one forward call, each
// 0 or 1 / (1 - p). Given (tests compare with PyTorch so) they replace the drawn ones; an empty
// list is drawn.
// A variational (locked) dropout mask [B, F] for a batch of B streams, each element 1 / keep with
// probability keep, else 0. Under a DropoutShard (autograd/dropout_shard.h: a rank of a
// data-parallel run holds streams [first, first + B) of the global batch) it is those rows of the
// whole batch's mask, so N ranks drop what one process with the whole batch drops.
Tensor batch_dropout_mask(int64_t batch, int64_t features, double keep, DType dtype, Device device,
                          Generator& generator);

struct RNNDropoutMasks {
  std::vector<Tensor> hidden;     // L - 1 masks [B, D*R]: layer l's output is y_l * hidden[l]
  std::vector<Tensor> weight_hh;  // L * D masks [G*H, R]: weight set i runs on weight_hh * mask[i]
};

// weights[l * D + d] holds layer l, direction d. h0/c0 may be undefined (zeros); lengths is an
// optional int64 [B] with values in 1..T. In RnnPhase::Training the dropout masks draw from
// `generator` (the default generator when null), in this order: weight_dropout's (weight set
// 0 .. L*D-1), variational_dropout's (layer 0 .. L-2), then `dropout`'s between layers. Under a
// DropoutShardGuard (autograd/dropout_shard.h) a variational mask is this rank's rows of the
// global batch's; a weight mask is the same on every rank, which shares the weights. Throws
// recur::Error naming expected and actual shapes on bad input.
RNNOutput rnn_forward(const RNNOptions& options, const std::vector<CellWeights>& weights, const Tensor& x,
                      const Tensor& h0, const Tensor& c0, const Tensor& lengths, RnnPhase phase, Generator* generator,
                      RNNImpl impl = RNNImpl::Auto, const RNNDropoutMasks* masks = nullptr);

}  // namespace recur::nn
