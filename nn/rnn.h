// recur::nn::RNN: the multi-layer recurrent module users train (LSTM, GRU, tanh and ReLU RNNs).
//
// Semantics are PyTorch's nn.LSTM / nn.GRU / nn.RNN (names, shapes, initialisation, the state
// dict), with TensorFlow's CudnnLSTM feature set on top (input_mode, canonical weights, opaque
// parameter buffer) and LSTMCell's options (peepholes, clips, forget_bias) on the cell graph.
//
// T = time steps, B = batch, I = input size, H = hidden size, R = H or proj_size,
// L = num_layers, D = num_directions, G = gates (4 LSTM, 3 GRU, 1 RNN).
//
// Weights. Every weight lives in one flat parameter buffer (TensorFlow's "opaque params",
// PyTorch's flattened weights; on a GPU, cuDNN's weight space). The registered parameters are
// views into it, under PyTorch's names, for each layer l and direction (suffix "_reverse"):
//   weight_ih_l{l} [G*H, I or D*R]   absent for layer 0 with skip_input
//   weight_hh_l{l} [G*H, R]
//   bias_ih_l{l}   [G*H]             with bias
//   bias_hh_l{l}   [G*H]             with bias
//   weight_hr_l{l} [R, H]            with proj_size
//   weight_peephole_l{l} [3, H]      with use_peepholes (p_i, p_f, p_o; not in PyTorch)
// in that order, layer by layer, forward direction before reverse. The canonical weights are
// cuDNN's linLayerID matrices: the gate blocks of weight_ih, then of weight_hh (LSTM i, f, g, o;
// GRU r, z, n), then weight_hr, then weight_peephole; the canonical biases are the gate blocks
// of bias_ih then of bias_hh. docs/RNN.md maps them to TensorFlow's tensors.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "nn/module.h"
#include "nn/rnn_cell_math.h"
#include "nn/rnn_functional.h"
#include "nn/rnn_options.h"

namespace recur::nn {

struct RNNState {
  Tensor h;  // [L*D, B, R]
  Tensor c;  // [L*D, B, H], LSTM only
};

// The weights an RNN with these options registers (see above), by name and shape, in flat
// order, computed without building it or allocating anything: a reader checks a file's weights
// against its options with it before it builds a module of that size. One entry per weight:
// num_layers x directions x up to 6, so a caller bounds num_layers first when the options come
// from outside. Throws recur::Error on inconsistent options and on sizes that overflow int64.
struct RNNWeightShape {
  std::string name;
  Shape shape;
};
std::vector<RNNWeightShape> rnn_weight_shapes(const RNNOptions& options);

class RNN : public Module {
 public:
  // Initialises every weight U(-1/sqrt(H), 1/sqrt(H)) from `generator` (the default one when
  // null), like PyTorch. Throws recur::Error on inconsistent options.
  explicit RNN(const RNNOptions& options, Generator* generator = nullptr);

  std::string name() const override;
  std::string extra_repr() const override;

  // x: [T, B, I] ([B, T, I] with batch_first); state: h0 (and c0), undefined = zeros;
  // lengths: optional int64 [B] in 1..T (PyTorch's pack_padded_sequence semantics).
  // Returns the output [T, B, D*R] (or batch-first) and the final state. While training, `masks`
  // (tests) replace the drawn masks of variational_dropout and weight_dropout (rnn_functional.h).
  std::pair<Tensor, RNNState> forward(const Tensor& x, const RNNState& state = {}, const Tensor& lengths = {},
                                      const RNNDropoutMasks* masks = nullptr);

  const RNNOptions& options() const { return options_; }
  Shape state_shape(int64_t batch) const;              // h: [L*D, B, R]
  Shape cell_state_shape(int64_t batch) const;         // c: [L*D, B, H]
  RNNState zero_state(int64_t batch) const;            // on the module's device and dtype
  int64_t count_params() const { return own_total_; }  // elements of all the weights

  // Which implementation forward uses on the current device (auto resolved), and a choice.
  RNNImpl implementation() const;
  void set_implementation(RNNImpl impl) { requested_impl_ = impl; }
  Generator& dropout_generator() { return dropout_generator_; }

  // ---- canonical weights and the flat buffer ------------------------------------------------
  std::vector<Shape> canonical_weight_shapes() const;
  std::vector<Shape> canonical_bias_shapes() const;
  // Elements of the flat buffer in its current layout: recur's own (count_params()) on the CPU,
  // cuDNN's weight space on a GPU, which may hold padding between the weights.
  int64_t params_size() const;
  // The flat buffer (re-flattened first if to() or load_state_dict moved the weights).
  Tensor flat_parameters();
  // A flat buffer laid out like this module's from canonical weights and biases.
  Tensor canonical_to_params(const std::vector<Tensor>& weights, const std::vector<Tensor>& biases) const;
  // The canonical weights and biases, as views of a flat buffer of this module's layout.
  std::pair<std::vector<Tensor>, std::vector<Tensor>> params_to_canonical(const Tensor& params) const;
  // Makes every registered weight a view of one flat buffer again (after to()).
  void flatten_parameters();
  // Installs a flat buffer of this module's layout (params_size() elements, any floating dtype or
  // device): the inverse of flat_parameters(), and with canonical_to_params() the inverse of
  // params_to_canonical():  rnn.set_flat_parameters(rnn.canonical_to_params(weights, biases)).
  // The values are copied into the module's own buffer, so handles to its parameters (an
  // optimizer's) stay valid.
  void set_flat_parameters(const Tensor& params);

  // The weights of layer l, direction d, as the cell functions take them.
  CellWeights layer_weights(int64_t layer, int64_t direction) const;

 protected:
  // Module::to() converts each weight on its own: gather them into one buffer again.
  void after_to() override { flatten_parameters(); }

 private:
  struct Slot {
    std::string name;
    Shape shape;
    int64_t offset;      // in the flat buffer, in its current layout
    int64_t own_offset;  // in recur's own layout (the CPU's, and PyTorch's order)
    Tensor tensor;       // the registered parameter
  };
  // The tensors of one (layer, direction), in flat order.
  struct LayerSlots {
    int weight_ih = -1, weight_hh = -1, bias_ih = -1, bias_hh = -1, weight_hr = -1, weight_peephole = -1;
  };

  RNNOptions options_;
  std::vector<Slot> slots_;
  std::vector<LayerSlots> layers_;
  int64_t total_ = 0;      // elements of the flat buffer in its current layout
  int64_t own_total_ = 0;  // in recur's own layout
  Tensor flat_;
  RNNImpl requested_impl_ = RNNImpl::Auto;
  Generator dropout_generator_;
};

}  // namespace recur::nn
