#include "nn/rnn_cells.h"

#include <cmath>

#include "autograd/ops.h"

namespace recur::nn {

RecurrentCell::RecurrentCell(const RNNOptions& options, Generator* generator) : options_(options) {
  RECUR_CHECK(options.num_layers == 1 && options.direction == Direction::Unidirectional && options.dropout == 0.0 &&
                  !options.batch_first && options.input_mode == InputMode::LinearInput,
              "{}Cell: num_layers, direction, dropout, batch_first and input_mode are RNN options, not cell options",
              mode_name(options.mode));
  options_.validate();
  const int64_t gates = options_.gates(), hidden = options_.hidden_size;
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden));
  auto param = [&](const std::string& name, const Shape& shape) {
    return register_parameter(name, rand(shape, TensorOptions{}, generator, -bound, bound));
  };
  weights_.weight_ih = param("weight_ih", {gates * hidden, options_.input_size});
  weights_.weight_hh = param("weight_hh", {gates * hidden, options_.output_hidden_size()});
  if (options_.bias) {
    weights_.bias_ih = param("bias_ih", {gates * hidden});
    weights_.bias_hh = param("bias_hh", {gates * hidden});
  }
  if (options_.proj_size > 0) weights_.weight_hr = param("weight_hr", {options_.proj_size, hidden});
  if (options_.use_peepholes) weights_.weight_peephole = param("weight_peephole", {3, hidden});
}

std::string RecurrentCell::name() const {
  switch (options_.mode) {
    case RNNMode::LSTM: return "LSTMCell";
    case RNNMode::GRU: return "GRUCell";
    default: return "RNNCell";
  }
}

std::string RecurrentCell::extra_repr() const {
  return fmt::format("{}, {}{}", options_.input_size, options_.hidden_size, options_.bias ? "" : ", bias=false");
}

std::pair<int64_t, int64_t> RecurrentCell::state_size() const {
  return {options_.output_hidden_size(), options_.mode == RNNMode::LSTM ? options_.hidden_size : 0};
}

CellState RecurrentCell::zero_state(int64_t batch) const {
  const TensorOptions like =
      TensorOptions{}.with_dtype(weights_.weight_hh.dtype()).with_device(weights_.weight_hh.device());
  CellState state;
  state.h = zeros({batch, options_.output_hidden_size()}, like);
  if (options_.mode == RNNMode::LSTM) state.c = zeros({batch, options_.hidden_size}, like);
  return state;
}

CellState RecurrentCell::forward(const Tensor& x, const CellState& state) {
  RECUR_CHECK(x.defined() && x.dim() == 2 && x.size(1) == options_.input_size, "{}: input must be [batch, {}], got {}",
              name(), options_.input_size, x.describe());
  CellState s = state.h.defined() ? state : zero_state(x.size(0));
  if (options_.mode == RNNMode::LSTM && !s.c.defined()) s.c = zero_state(x.size(0)).c;
  const Shape h_shape{x.size(0), options_.output_hidden_size()};
  RECUR_CHECK(s.h.shape() == h_shape, "{}: h must be {}, got {}", name(), shape_str(h_shape), s.h.describe());
  if (options_.mode == RNNMode::LSTM) {
    const Shape c_shape{x.size(0), options_.hidden_size};
    RECUR_CHECK(s.c.shape() == c_shape, "{}: c must be {}, got {}", name(), shape_str(c_shape), s.c.describe());
  }
  return cell_step(input_gates(x, weights_, options_), s, weights_, options_);
}

namespace {

RNNOptions cell_options(RNNMode mode, int64_t input_size, int64_t hidden_size, RNNOptions base) {
  base.mode = mode;
  base.input_size = input_size;
  base.hidden_size = hidden_size;
  return base;
}

}  // namespace

LSTMCell::LSTMCell(int64_t input_size, int64_t hidden_size, RNNOptions extra, Generator* generator)
    : RecurrentCell(cell_options(RNNMode::LSTM, input_size, hidden_size, extra), generator) {}

GRUCell::GRUCell(int64_t input_size, int64_t hidden_size, GRUVariant variant, bool bias, Generator* generator)
    : RecurrentCell(
          [&] {
            RNNOptions o = cell_options(RNNMode::GRU, input_size, hidden_size, {});
            o.gru_variant = variant;
            o.bias = bias;
            return o;
          }(),
          generator) {}

RNNCell::RNNCell(int64_t input_size, int64_t hidden_size, Activation activation, bool bias, Generator* generator)
    : RecurrentCell(
          [&] {
            RNNOptions o = cell_options(activation == Activation::Relu ? RNNMode::RNN_RELU : RNNMode::RNN_TANH,
                                        input_size, hidden_size, {});
            o.bias = bias;
            return o;
          }(),
          generator) {}

}  // namespace recur::nn
