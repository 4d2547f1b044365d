#include "nn/rnn_cell_math.h"

#include "autograd/ops.h"

namespace recur::nn {

namespace {

Tensor activation(const Tensor& x, Activation act) { return act == Activation::Relu ? relu(x) : tanh(x); }

// Columns [k*H, (k+1)*H) of a [B, G*H] gate matrix.
Tensor gate(const Tensor& gates, int64_t k, int64_t hidden) { return narrow(gates, 1, k * hidden, hidden); }

}  // namespace

Tensor input_gates(const Tensor& x, const CellWeights& w, const RNNOptions& options) {
  const int64_t hidden = options.hidden_size, gates = options.gates();
  Tensor xg;
  if (w.weight_ih.defined()) {
    xg = linear(x, w.weight_ih, w.bias_ih);
  } else {
    // skip_input: the input itself stands in for W_k x in every gate.
    std::vector<Tensor> copies(static_cast<size_t>(gates), x);
    xg = gates == 1 ? x : concat(copies, 1);
    if (w.bias_ih.defined()) xg = xg + w.bias_ih;
  }
  // GRU keeps b_Rn inside r * (R_n h + b_Rn): fold only the r and z parts of bias_hh.
  if (w.bias_hh.defined()) {
    if (options.mode == RNNMode::GRU) {
      Tensor rz = narrow(w.bias_hh, 0, 0, 2 * hidden);
      Tensor zero_n = zeros({hidden}, TensorOptions{}.with_dtype(x.dtype()).with_device(x.device()));
      xg = xg + concat({rz, zero_n}, 0);
    } else {
      xg = xg + w.bias_hh;
    }
  }
  return xg;
}

CellState cell_step(const Tensor& xg, const CellState& state, const CellWeights& w, const RNNOptions& options) {
  const int64_t hidden = options.hidden_size;
  switch (options.mode) {
    case RNNMode::LSTM: {
      Tensor a = xg + matmul(state.h, w.weight_hh.t());
      Tensor a_i = gate(a, 0, hidden), a_f = gate(a, 1, hidden), a_g = gate(a, 2, hidden), a_o = gate(a, 3, hidden);
      if (w.weight_peephole.defined()) {
        a_i = a_i + state.c * select(w.weight_peephole, 0, 0);
        a_f = a_f + state.c * select(w.weight_peephole, 0, 1);
      }
      if (options.forget_bias != 0.0) a_f = a_f + options.forget_bias;
      Tensor i = sigmoid(a_i), f = sigmoid(a_f), g = activation(a_g, options.activation);
      Tensor c = f * state.c + i * g;
      if (options.cell_clip > 0.0) c = clamp(c, -options.cell_clip, options.cell_clip);
      if (w.weight_peephole.defined()) a_o = a_o + c * select(w.weight_peephole, 0, 2);
      Tensor h = sigmoid(a_o) * activation(c, options.activation);
      if (w.weight_hr.defined()) {
        h = matmul(h, w.weight_hr.t());
        if (options.proj_clip > 0.0) h = clamp(h, -options.proj_clip, options.proj_clip);
      }
      return {h, c};
    }
    case RNNMode::GRU: {
      const Tensor& h = state.h;
      Tensor x_r = gate(xg, 0, hidden), x_z = gate(xg, 1, hidden), x_n = gate(xg, 2, hidden);
      Tensor r_hh = narrow(w.weight_hh, 0, 0, 2 * hidden);  // (R_r; R_z)
      Tensor r_n = narrow(w.weight_hh, 0, 2 * hidden, hidden);
      Tensor hrz = matmul(h, r_hh.t());
      Tensor r = sigmoid(x_r + gate(hrz, 0, hidden));
      Tensor z = sigmoid(x_z + gate(hrz, 1, hidden));
      Tensor b_rn = w.bias_hh.defined() ? narrow(w.bias_hh, 0, 2 * hidden, hidden) : Tensor();
      Tensor n_pre;
      if (options.gru_variant == GRUVariant::LinearBeforeReset) {
        Tensor hn = matmul(h, r_n.t());
        if (b_rn.defined()) hn = hn + b_rn;
        n_pre = x_n + r * hn;
      } else {
        n_pre = x_n + matmul(r * h, r_n.t());
        if (b_rn.defined()) n_pre = n_pre + b_rn;
      }
      Tensor n = tanh(n_pre);
      return {(1.0 - z) * n + z * h, Tensor()};
    }
    case RNNMode::RNN_TANH:
    case RNNMode::RNN_RELU: {
      Tensor a = xg + matmul(state.h, w.weight_hh.t());
      return {options.mode == RNNMode::RNN_RELU ? relu(a) : tanh(a), Tensor()};
    }
  }
  RECUR_FAIL("unknown RNN mode");
}

}  // namespace recur::nn
