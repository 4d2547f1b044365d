// The options of a recurrent layer (recur::nn::RNN and the cells), with TensorFlow's and
// PyTorch's names side by side, and their JSON form (TensorFlow's get_config/from_config).
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace recur::nn {

enum class RNNMode : uint8_t { LSTM, GRU, RNN_TANH, RNN_RELU };
enum class Direction : uint8_t { Unidirectional, Bidirectional };
// How the first layer sees its input (cuDNN's cudnnRNNInputMode_t, TensorFlow's input_mode):
// LinearInput multiplies it by W; SkipInput adds it to the gates unchanged (needs
// input_size == hidden_size and gives layer 0 no input weights); AutoSelect is SkipInput when
// input_size == hidden_size and LinearInput otherwise.
enum class InputMode : uint8_t { LinearInput, SkipInput, AutoSelect };
// GRU candidate gate: LinearBeforeReset (cuDNN, PyTorch, TensorFlow's CudnnCompatibleGRUCell)
// n = tanh(W_n x + b_Wn + r * (R_n h + b_Rn)); ResetBeforeLinear (the original paper,
// TensorFlow's GRUCell) n = tanh(W_n x + R_n (r * h) + b_Wn + b_Rn).
enum class GRUVariant : uint8_t { LinearBeforeReset, ResetBeforeLinear };
// The LSTM cell's output activation (TensorFlow's LSTMCell `activation`).
enum class Activation : uint8_t { Tanh, Relu };

struct RNNOptions {
  RNNMode mode = RNNMode::LSTM;
  int64_t input_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;
  Direction direction = Direction::Unidirectional;
  double dropout = 0.0;       // between layers, never after the last: a fresh mask per element
  uint64_t dropout_seed = 0;  // the dropout masks' Philox stream
  // AWD-LSTM's regularizers of the stack (Merity, Keskar and Socher 2017), in training only; both
  // draw their masks once per forward call from the dropout_seed stream (rnn_functional.h):
  //   variational_dropout (dropout_h): between layers, never after the last, one mask [B, D*R]
  //     per call, the same at every time step, scaled by 1 / (1 - p) (Gal and Ghahramani 2016);
  //   weight_dropout (wdrop): DropConnect on every weight_hh, one mask [G*H, R] per weight per
  //     call, scaled by 1 / (1 - p): the recurrence runs on W_hh * mask.
  double variational_dropout = 0.0;
  double weight_dropout = 0.0;
  int64_t proj_size = 0;  // LSTM only: h = W_hr (o * tanh(c)), 0 = none
  InputMode input_mode = InputMode::LinearInput;
  // LSTM cell options beyond cuDNN's (run by the cell graph):
  bool use_peepholes = false;  // i, f see c_{t-1} and o sees c_t through diagonal weights
  double cell_clip = 0.0;      // clip c to [-cell_clip, cell_clip]; 0 = none
  double proj_clip = 0.0;      // clip the projection to [-proj_clip, proj_clip]; 0 = none
  double forget_bias = 0.0;    // added to the forget gate's pre-activation at run time
  Activation activation = Activation::Tanh;
  // GRU:
  GRUVariant gru_variant = GRUVariant::LinearBeforeReset;

  int64_t num_directions() const { return direction == Direction::Bidirectional ? 2 : 1; }
  int64_t gates() const { return mode == RNNMode::LSTM ? 4 : mode == RNNMode::GRU ? 3 : 1; }
  // The size of h: proj_size when projecting, else hidden_size.
  int64_t output_hidden_size() const { return proj_size > 0 ? proj_size : hidden_size; }
  // Whether layer 0 skips its input matrix (input_mode resolved).
  bool skip_input() const;
  // Throws recur::Error naming the first inconsistent option and the values involved.
  void validate() const;
};

std::string mode_name(RNNMode mode);  // "lstm", "gru", "rnn_tanh", "rnn_relu"
RNNMode parse_mode(const std::string& name);

void to_json(nlohmann::json& j, const RNNOptions& options);
void from_json(const nlohmann::json& j, RNNOptions& options);
std::string options_to_json(const RNNOptions& options);
RNNOptions options_from_json(const std::string& text);

}  // namespace recur::nn
