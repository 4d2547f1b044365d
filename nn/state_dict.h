// A model's named tensors: parameters and buffers by dotted name ("rnn.weight_ih_l0"), in
// name order. Modules produce and load it; safetensors reads and writes it; optimizers keep
// their state in it.
#pragma once

#include <map>
#include <string>

#include "core/tensor.h"

namespace recur::nn {

using StateDict = std::map<std::string, Tensor>;

}  // namespace recur::nn
