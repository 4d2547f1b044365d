// Named tensors: parameters and buffers by dotted name ("rnn.weight_ih_l0"), in name order.
// Modules (nn/) produce and load it, safetensors reads and writes it, optimizers (optim/) keep
// their state in it; it lives here, below all of them, so that none needs another for it.
#pragma once

#include <map>
#include <string>

#include "core/tensor.h"

namespace recur {

using StateDict = std::map<std::string, Tensor>;

}  // namespace recur
