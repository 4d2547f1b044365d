// Single-step cells for hand-written loops: LSTMCell, GRUCell, RNNCell. Their equations, gate
// order and weight layout are those of nn/rnn_cell_math.h, so a cell loads the weights of the
// matching layer of an RNN (or of PyTorch's LSTMCell/GRUCell/RNNCell) unchanged:
//   weight_ih [G*H, I], weight_hh [G*H, R], bias_ih [G*H], bias_hh [G*H],
//   weight_hr [P, H] (LSTM with num_proj), weight_peephole [3, H] (LSTM with peepholes).
#pragma once

#include "nn/module.h"
#include "nn/rnn_cell_math.h"
#include "nn/rnn_options.h"

namespace recur::nn {

// The options a cell takes: RNNOptions' cell fields (mode, input_size, hidden_size, bias,
// proj_size = TensorFlow's num_proj, use_peepholes, cell_clip, proj_clip, forget_bias,
// activation, gru_variant). Layer fields (num_layers, direction, dropout, batch_first) must
// keep their defaults.
class RecurrentCell : public Module {
 public:
  RecurrentCell(const RNNOptions& options, Generator* generator);

  std::string name() const override;
  std::string extra_repr() const override;

  // x [B, I], state (h [B, R], c [B, H] for LSTM; undefined = zeros) -> the next state.
  CellState forward(const Tensor& x, const CellState& state = {});
  CellState zero_state(int64_t batch) const;
  // The sizes of h and c (c is 0 for GRU and RNN cells), and of the output h.
  std::pair<int64_t, int64_t> state_size() const;
  int64_t output_size() const { return options_.output_hidden_size(); }
  const RNNOptions& options() const { return options_; }
  CellWeights weights() const { return weights_; }

 private:
  RNNOptions options_;
  CellWeights weights_;
};

// TensorFlow's LSTMCell options on PyTorch's LSTMCell layout.
class LSTMCell : public RecurrentCell {
 public:
  explicit LSTMCell(int64_t input_size, int64_t hidden_size, RNNOptions extra = {}, Generator* generator = nullptr);
};

// variant = LinearBeforeReset is cuDNN's and PyTorch's GRU; ResetBeforeLinear is the paper's.
class GRUCell : public RecurrentCell {
 public:
  explicit GRUCell(int64_t input_size, int64_t hidden_size, GRUVariant variant = GRUVariant::LinearBeforeReset,
                   bool bias = true, Generator* generator = nullptr);
};

class RNNCell : public RecurrentCell {
 public:
  explicit RNNCell(int64_t input_size, int64_t hidden_size, Activation activation = Activation::Tanh, bool bias = true,
                   Generator* generator = nullptr);
};

}  // namespace recur::nn
