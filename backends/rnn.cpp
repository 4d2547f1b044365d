#include "backends/rnn.h"

#include <fmt/format.h>

namespace recur {

std::string RnnDesc::key() const {
  return fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", static_cast<int>(cell), input_size,
                     hidden_size, proj_size, num_layers, bidirectional, reverse, bias, skip_input, dropout,
                     dropout_seed, variational_dropout, peepholes, relu_activation, forget_bias, cell_clip, proj_clip,
                     gru_reset_before_linear, dtype_name(dtype));
}

}  // namespace recur
