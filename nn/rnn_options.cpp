#include "nn/rnn_options.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "nn/json_integer.h"

namespace recur::nn {

namespace {

template <typename E> std::string enum_name(E value, const std::vector<std::pair<E, std::string>>& names) {
  for (const auto& [v, name] : names) {
    if (v == value) return name;
  }
  return "?";
}

template <typename E>
E enum_parse(const std::string& text, const std::vector<std::pair<E, std::string>>& names, const char* what) {
  std::string known;
  for (const auto& [v, name] : names) {
    if (name == text) return v;
    known += (known.empty() ? "" : ", ") + name;
  }
  RECUR_FAIL("unknown {} '{}' (expected one of: {})", what, text, known);
}

const std::vector<std::pair<RNNMode, std::string>> kModes = {
    {RNNMode::LSTM, "lstm"}, {RNNMode::GRU, "gru"}, {RNNMode::RNN_TANH, "rnn_tanh"}, {RNNMode::RNN_RELU, "rnn_relu"}};
const std::vector<std::pair<Direction, std::string>> kDirections = {{Direction::Unidirectional, "unidirectional"},
                                                                    {Direction::Bidirectional, "bidirectional"}};
const std::vector<std::pair<InputMode, std::string>> kInputModes = {{InputMode::LinearInput, "linear_input"},
                                                                    {InputMode::SkipInput, "skip_input"},
                                                                    {InputMode::AutoSelect, "auto_select"}};
const std::vector<std::pair<GRUVariant, std::string>> kGruVariants = {
    {GRUVariant::LinearBeforeReset, "linear_before_reset"}, {GRUVariant::ResetBeforeLinear, "reset_before_linear"}};
const std::vector<std::pair<Activation, std::string>> kActivations = {{Activation::Tanh, "tanh"},
                                                                      {Activation::Relu, "relu"}};

}  // namespace

std::string mode_name(RNNMode mode) { return enum_name(mode, kModes); }
RNNMode parse_mode(const std::string& name) { return enum_parse(name, kModes, "RNN mode"); }

bool RNNOptions::skip_input() const {
  if (input_mode == InputMode::SkipInput) return true;
  if (input_mode == InputMode::AutoSelect) return input_size == hidden_size;
  return false;
}

void RNNOptions::validate() const {
  RECUR_CHECK(input_size >= 1, "RNN: input_size must be >= 1, got {}", input_size);
  RECUR_CHECK(hidden_size >= 1, "RNN: hidden_size must be >= 1, got {}", hidden_size);
  RECUR_CHECK(num_layers >= 1, "RNN: num_layers must be >= 1, got {}", num_layers);
  RECUR_CHECK(dropout >= 0.0 && dropout < 1.0, "RNN: dropout must be in [0, 1), got {}", dropout);
  RECUR_CHECK(variational_dropout >= 0.0 && variational_dropout < 1.0,
              "RNN: variational_dropout must be in [0, 1), got {}", variational_dropout);
  RECUR_CHECK(weight_dropout >= 0.0 && weight_dropout < 1.0, "RNN: weight_dropout must be in [0, 1), got {}",
              weight_dropout);
  RECUR_CHECK(proj_size >= 0, "RNN: proj_size must be >= 0, got {}", proj_size);
  if (proj_size > 0) {
    RECUR_CHECK(mode == RNNMode::LSTM, "RNN: proj_size={} is only supported for LSTM, got mode {}", proj_size,
                mode_name(mode));
  }
  // TensorFlow's LSTMCell ignores proj_clip without num_proj; here it is an error, so that a clip
  // that would do nothing is never set by mistake (docs/RNN.md).
  RECUR_CHECK(proj_clip == 0.0 || proj_size > 0,
              "RNN: proj_clip={} needs proj_size > 0 (without a projection there is nothing to clip; TensorFlow "
              "ignores it, leave it 0)",
              proj_clip);
  if (input_mode == InputMode::SkipInput) {
    RECUR_CHECK(input_size == hidden_size,
                "RNN: skip_input needs input_size == hidden_size, got input_size={} and "
                "hidden_size={}",
                input_size, hidden_size);
  }
  RECUR_CHECK(cell_clip >= 0.0 && proj_clip >= 0.0, "RNN: cell_clip and proj_clip must be >= 0, got {} and {}",
              cell_clip, proj_clip);
  if (mode != RNNMode::LSTM) {
    RECUR_CHECK(!use_peepholes && cell_clip == 0.0 && forget_bias == 0.0 && activation == Activation::Tanh,
                "RNN: use_peepholes, cell_clip, forget_bias and activation are LSTM options, got mode {}",
                mode_name(mode));
  }
  if (mode != RNNMode::GRU) {
    RECUR_CHECK(gru_variant == GRUVariant::LinearBeforeReset, "RNN: gru_variant is a GRU option, got mode {}",
                mode_name(mode));
  }
}

void to_json(nlohmann::json& j, const RNNOptions& o) {
  j = nlohmann::json{{"mode", mode_name(o.mode)},
                     {"input_size", o.input_size},
                     {"hidden_size", o.hidden_size},
                     {"num_layers", o.num_layers},
                     {"bias", o.bias},
                     {"batch_first", o.batch_first},
                     {"direction", enum_name(o.direction, kDirections)},
                     {"dropout", o.dropout},
                     {"dropout_seed", o.dropout_seed},
                     {"variational_dropout", o.variational_dropout},
                     {"weight_dropout", o.weight_dropout},
                     {"proj_size", o.proj_size},
                     {"input_mode", enum_name(o.input_mode, kInputModes)},
                     {"use_peepholes", o.use_peepholes},
                     {"cell_clip", o.cell_clip},
                     {"proj_clip", o.proj_clip},
                     {"forget_bias", o.forget_bias},
                     {"activation", enum_name(o.activation, kActivations)},
                     {"gru_variant", enum_name(o.gru_variant, kGruVariants)}};
}

void from_json(const nlohmann::json& j, RNNOptions& o) {
  RECUR_CHECK(j.is_object(), "RNN options: expected a JSON object, got {}", j.type_name());
  o = RNNOptions{};
  for (const auto& [key, value] : j.items()) {
    try {
      if (key == "mode")
        o.mode = parse_mode(value.get<std::string>());
      else if (key == "input_size")
        o.input_size = json_integer<int64_t>(value, "RNN options: 'input_size'");
      else if (key == "hidden_size")
        o.hidden_size = json_integer<int64_t>(value, "RNN options: 'hidden_size'");
      else if (key == "num_layers")
        o.num_layers = json_integer<int64_t>(value, "RNN options: 'num_layers'");
      else if (key == "bias")
        o.bias = value.get<bool>();
      else if (key == "batch_first")
        o.batch_first = value.get<bool>();
      else if (key == "direction")
        o.direction = enum_parse(value.get<std::string>(), kDirections, "direction");
      else if (key == "dropout")
        o.dropout = value.get<double>();
      else if (key == "dropout_seed")
        o.dropout_seed = json_integer<uint64_t>(value, "RNN options: 'dropout_seed'");
      else if (key == "variational_dropout")
        o.variational_dropout = value.get<double>();
      else if (key == "weight_dropout")
        o.weight_dropout = value.get<double>();
      else if (key == "proj_size")
        o.proj_size = json_integer<int64_t>(value, "RNN options: 'proj_size'");
      else if (key == "input_mode")
        o.input_mode = enum_parse(value.get<std::string>(), kInputModes, "input_mode");
      else if (key == "use_peepholes")
        o.use_peepholes = value.get<bool>();
      else if (key == "cell_clip")
        o.cell_clip = value.get<double>();
      else if (key == "proj_clip")
        o.proj_clip = value.get<double>();
      else if (key == "forget_bias")
        o.forget_bias = value.get<double>();
      else if (key == "activation")
        o.activation = enum_parse(value.get<std::string>(), kActivations, "activation");
      else if (key == "gru_variant")
        o.gru_variant = enum_parse(value.get<std::string>(), kGruVariants, "gru_variant");
      else
        RECUR_FAIL("RNN options: unknown key '{}'", key);
    } catch (const nlohmann::json::exception& e) {
      RECUR_FAIL("RNN options: key '{}' has the wrong type ({}): {}", key, value.type_name(), e.what());
    }
  }
  o.validate();
}

std::string options_to_json(const RNNOptions& options) { return nlohmann::json(options).dump(); }

RNNOptions options_from_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    RECUR_FAIL("RNN options: invalid JSON: {}", e.what());
  }
  return j.get<RNNOptions>();
}

}  // namespace recur::nn
