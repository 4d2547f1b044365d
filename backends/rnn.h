// The fused RNN, an optional capability of a backend (Backend::rnn()): a plain descriptor of a
// stack of recurrent layers, a supports() query, forward (training or inference) and backward
// (data, then weights) with an opaque saved state that the caller's autograd node carries.
//
// nn::rnn_forward (nn/rnn_functional.cpp) asks the backend of the input's device whether it
// runs the whole stack in one call (cuDNN), or, failing that, one layer and one direction per
// call (the CPU's fused layer, backends/cpu/rnn_layer.h); else it builds the cell graph. So the
// list of what each device runs lives with its implementation, and nn/ includes no backend
// internals.
//
// Shapes: T = steps, B = batch, I = input size, H = hidden size, R = recurrent size (P when
// projecting, else H), G = gates (4 LSTM, 3 GRU, 1 tanh/ReLU RNN), L = layers, D = directions.
// x is [T, B, I], time-major; h0 [L*D, B, R] and c0 [L*D, B, H] may be undefined (zeros).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace recur {

class Generator;

enum class RnnCell : uint8_t { LSTM, GRU, RNN_TANH, RNN_RELU };

struct RnnDesc {
  RnnCell cell = RnnCell::LSTM;
  int64_t input_size = 0, hidden_size = 0, proj_size = 0, num_layers = 1;
  bool bidirectional = false;
  bool reverse = false;  // one layer and direction, walked t = T-1 .. 0 (a stack's second direction)
  bool bias = true;
  bool skip_input = false;  // layer 0 adds x to its gates unchanged (I == H, no W_ih)
  double dropout = 0.0;     // between layers, in training
  uint64_t dropout_seed = 0;
  // Between layers, in training: one mask [B, D*R] per call, the same at every step (AWD-LSTM's
  // dropout_h). nn::rnn_forward runs it layer by layer where a stack cannot.
  double variational_dropout = 0.0;
  // LSTM options beyond cuDNN's:
  bool peepholes = false, relu_activation = false;
  double forget_bias = 0.0, cell_clip = 0.0, proj_clip = 0.0;
  bool gru_reset_before_linear = false;  // GRU: n = tanh(W x + R (r * h) + b) instead of r * (R h + b)
  DType dtype = DType::Float32;

  int64_t gates() const { return cell == RnnCell::LSTM ? 4 : cell == RnnCell::GRU ? 3 : 1; }
  int64_t directions() const { return bidirectional ? 2 : 1; }
  int64_t recurrent_size() const { return proj_size > 0 ? proj_size : hidden_size; }
  // Every field, as text: a cache key.
  std::string key() const;
};

// One layer and direction's weights in recur's canonical layout (PyTorch's): weight_ih
// [G*H, I_l], weight_hh [G*H, R], biases [G*H], weight_hr [P, H]; undefined where absent.
struct RnnWeights {
  Tensor weight_ih, weight_hh, bias_ih, bias_hh, weight_hr;
};

// What forward keeps for backward (cuDNN's reserve space, the CPU layer's gate buffers).
struct RnnSaved {
  virtual ~RnnSaved() = default;
};

struct RnnForward {
  Tensor y;                         // [T, B, D*R], zero where a sequence has ended
  Tensor h_n, c_n;                  // [L*D, B, R], [L*D, B, H] (LSTM)
  std::shared_ptr<RnnSaved> saved;  // null unless forward was asked to keep it
};

struct RnnDataGrads {
  Tensor dx, dh0, dc0;  // dh0/dc0 undefined where h0/c0 were
};

// Where a backend reads each weight of a flat parameter buffer in place: the buffer's size in
// elements and, per layer-direction, the element offsets of weight_ih, weight_hh, bias_ih,
// bias_hh and weight_hr (-1 where the layer has none).
struct RnnWeightLayout {
  int64_t elements = 0;
  std::vector<std::array<int64_t, 5>> offsets;
};

// Training applies the descriptor's dropout between layers; Inference does not.
enum class RnnPhase : uint8_t { Inference, Training };
// Whether a forward keeps what backward needs (RnnForward::saved).
enum class KeepForBackward : uint8_t { No, Yes };

class RnnKernels {
 public:
  virtual ~RnnKernels() = default;
  // Whether one call runs `desc` on this device; otherwise `why` says what is missing.
  virtual bool supports(const RnnDesc& desc, std::string* why) = 0;
  // The flat-buffer layout this device reads in place (nn::RNN lays its buffer out so), or none
  // for recur's own packing.
  virtual std::optional<RnnWeightLayout> weight_layout(const RnnDesc& /*desc*/) { return std::nullopt; }
  // weights: L*D sets. lengths: int64 [B] on the host (values 1..T), or undefined. keep: Yes
  // keeps what backward needs (else saved is null and nothing is kept). generator: the dropout
  // stream.
  virtual RnnForward forward(const RnnDesc& desc, const std::vector<RnnWeights>& weights, const Tensor& x,
                             const Tensor& h0, const Tensor& c0, const Tensor& lengths, RnnPhase phase,
                             KeepForBackward keep, Generator* generator) = 0;
  // Once per forward, before backward_weights: the input and initial-state gradients from the
  // output and final-state gradients (any may be undefined: zeros).
  virtual RnnDataGrads backward_data(RnnSaved& saved, const Tensor& dy, const Tensor& dh_n, const Tensor& dc_n) = 0;
  // The weight gradients, one RnnWeights per layer-direction (undefined where the weight is).
  virtual std::vector<RnnWeights> backward_weights(RnnSaved& saved) = 0;
};

}  // namespace recur
