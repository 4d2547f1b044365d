// Evaluating an RNN "case": the file contract of `recur rnn-eval` (examples/cmd_rnn_eval.cpp),
// which `recur gradcheck` runs too, used to cross-check recur against PyTorch and TensorFlow and
// one device against another. A program's contract, so it lives with the programs (the library
// recur_rnn_case, which the tests and the fuzz targets link).
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
#include "core/state_dict.h"
#include "nn/rnn_functional.h"
#include "nn/rnn_options.h"

namespace recur::rnn_case {

using Metadata = std::map<std::string, std::string>;

// Reads the options from a case's metadata; throws recur::Error naming a missing or bad key.
nn::RNNOptions options(const Metadata& metadata);

// The metadata of a case with these options (batch_first 0): options(metadata(o)) == o. The
// options beyond PyTorch's are written only where they differ from RNNOptions' defaults.
Metadata metadata(const nn::RNNOptions& options);

// Runs the case on `device` with the given implementation; throws recur::Error naming the
// problem when the case is malformed or inconsistent (a missing tensor, a wrong shape, ...).
StateDict evaluate(const StateDict& tensors, const Metadata& metadata, Device device = Device::cpu(),
                   nn::RNNImpl impl = nn::RNNImpl::Auto);

}  // namespace recur::rnn_case
