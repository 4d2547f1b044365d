// Evaluating an RNN "case" (the contract of `recur rnn-eval`, used to cross-check recur against
// PyTorch and one device against another).
//
// A case holds, in safetensors form:
//   metadata (strings): mode, input_size, hidden_size, num_layers, bidirectional (0/1),
//                       proj_size (0 = none), bias (0/1), batch_first (0/1); optionally the
//                       options beyond PyTorch's, under RNNOptions' names: use_peepholes (0/1),
//                       cell_clip, proj_clip, forget_bias (numbers), activation (tanh|relu),
//                       gru_variant (linear_before_reset|reset_before_linear), input_mode
//   tensors: x; optional h0, c0; optional lengths (int64 [B]); dy (shaped like the output);
//            optional dhn, dcn; the weights under PyTorch's names (weight_ih_l0, ...).
// The computation runs in x's dtype (float32 or float64). The result holds y, hn, cn (LSTM),
// grad.x, grad.h0 / grad.c0 (when given) and grad.<name> for every weight, all from the
// backward pass of sum(y*dy) + sum(hn*dhn) + sum(cn*dcn) (absent terms are zero).
#pragma once

#include <map>
#include <string>

#include "core/device.h"
#include "nn/rnn_functional.h"
#include "nn/rnn_options.h"
#include "nn/state_dict.h"

namespace recur::nn {

// Reads the options from a case's metadata; throws recur::Error naming a missing or bad key.
RNNOptions case_options(const std::map<std::string, std::string>& metadata);

// Runs the case on `device` with the given implementation; throws recur::Error naming the
// problem when the case is malformed or inconsistent (a missing tensor, a wrong shape, ...).
StateDict evaluate_rnn_case(const StateDict& tensors, const std::map<std::string, std::string>& metadata,
                            Device device = Device::cpu(), RNNImpl impl = RNNImpl::Auto);

}  // namespace recur::nn
