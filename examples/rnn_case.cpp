#include "examples/rnn_case.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "nn/rnn.h"

namespace recur::rnn_case {

using namespace nn;

namespace {

int64_t metadata_int(const std::map<std::string, std::string>& metadata, const std::string& key, bool required,
                     int64_t fallback) {
  auto it = metadata.find(key);
  if (it == metadata.end()) {
    RECUR_CHECK(!required, "RNN case: metadata '{}' is missing", key);
    return fallback;
  }
  try {
    size_t used = 0;
    const long long value = std::stoll(it->second, &used);
    RECUR_CHECK(used == it->second.size(), "");
    return value;
  } catch (...) {
    RECUR_FAIL("RNN case: metadata '{}' must be an integer, got '{}'", key, it->second);
  }
}

bool metadata_flag(const std::map<std::string, std::string>& metadata, const std::string& key, bool fallback) {
  const int64_t value = metadata_int(metadata, key, false, fallback ? 1 : 0);
  RECUR_CHECK(value == 0 || value == 1, "RNN case: metadata '{}' must be 0 or 1, got {}", key, value);
  return value == 1;
}

double metadata_double(const std::map<std::string, std::string>& metadata, const std::string& key) {
  auto it = metadata.find(key);
  if (it == metadata.end()) return 0.0;
  try {
    size_t used = 0;
    const double value = std::stod(it->second, &used);
    RECUR_CHECK(used == it->second.size() && std::isfinite(value), "");
    return value;
  } catch (...) {
    RECUR_FAIL("RNN case: metadata '{}' must be a finite number, got '{}'", key, it->second);
  }
}

Tensor optional(const StateDict& tensors, const std::string& name) {
  auto it = tensors.find(name);
  return it == tensors.end() ? Tensor() : it->second;
}

// The elements of every weight of an RNN with these options, in floating point: options read
// from a file may describe more than int64 counts.
double weight_elements(const RNNOptions& o) {
  const double gates_h = static_cast<double>(o.gates()) * static_cast<double>(o.hidden_size);
  const double r = static_cast<double>(o.output_hidden_size()), d = static_cast<double>(o.num_directions());
  const double layers = static_cast<double>(o.num_layers);
  const double first_input = o.skip_input() ? 0.0 : static_cast<double>(o.input_size);
  const double per_layer = (o.bias ? 2.0 * gates_h : 0.0) +
                           (o.proj_size > 0 ? r * static_cast<double>(o.hidden_size) : 0.0) +
                           (o.use_peepholes ? 3.0 * static_cast<double>(o.hidden_size) : 0.0);
  return d * (gates_h * (first_input + r) + (layers - 1.0) * gates_h * (d * r + r) + layers * per_layer);
}

}  // namespace

RNNOptions options(const Metadata& metadata) {
  RNNOptions o;
  auto mode = metadata.find("mode");
  RECUR_CHECK(mode != metadata.end(), "RNN case: metadata 'mode' is missing");
  o.mode = parse_mode(mode->second);
  o.input_size = metadata_int(metadata, "input_size", true, 0);
  o.hidden_size = metadata_int(metadata, "hidden_size", true, 0);
  o.num_layers = metadata_int(metadata, "num_layers", false, 1);
  o.direction = metadata_flag(metadata, "bidirectional", false) ? Direction::Bidirectional : Direction::Unidirectional;
  o.proj_size = metadata_int(metadata, "proj_size", false, 0);
  o.bias = metadata_flag(metadata, "bias", true);
  o.batch_first = metadata_flag(metadata, "batch_first", false);
  // The options beyond PyTorch's (TensorFlow's LSTMCell and GRUCell), in RNNOptions' JSON form.
  nlohmann::json extra = nlohmann::json::object();
  if (metadata.count("use_peepholes")) extra["use_peepholes"] = metadata_flag(metadata, "use_peepholes", false);
  for (const char* key : {"cell_clip", "proj_clip", "forget_bias"}) {
    if (metadata.count(key)) extra[key] = metadata_double(metadata, key);
  }
  for (const char* key : {"activation", "gru_variant", "input_mode"}) {
    auto it = metadata.find(key);
    if (it != metadata.end()) extra[key] = it->second;
  }
  if (!extra.empty()) {
    nlohmann::json all = o;
    all.update(extra);
    try {
      o = all.get<RNNOptions>();
    } catch (const Error& error) {
      RECUR_FAIL("RNN case: {}", error.what());
    }
  }
  o.validate();
  return o;
}

Metadata metadata(const RNNOptions& o) {
  Metadata m = {{"mode", mode_name(o.mode)},
                {"input_size", std::to_string(o.input_size)},
                {"hidden_size", std::to_string(o.hidden_size)},
                {"num_layers", std::to_string(o.num_layers)},
                {"bidirectional", o.num_directions() == 2 ? "1" : "0"},
                {"proj_size", std::to_string(o.proj_size)},
                {"bias", o.bias ? "1" : "0"},
                {"batch_first", "0"}};
  // The options beyond PyTorch's, where they differ from the defaults, in RNNOptions' JSON form
  // (numbers in their shortest exact form, so options() reads back the same value).
  const nlohmann::json given = o, defaults = RNNOptions{};
  for (const char* key :
       {"use_peepholes", "cell_clip", "proj_clip", "forget_bias", "activation", "gru_variant", "input_mode"}) {
    if (!given.contains(key) || given[key] == defaults.value(key, nlohmann::json())) continue;
    const nlohmann::json& value = given[key];
    m.emplace(key, value.is_boolean()  ? std::to_string(static_cast<int>(value.get<bool>()))
                   : value.is_number() ? fmt::format("{}", value.get<double>())
                                       : value.get<std::string>());
  }
  return m;
}

StateDict evaluate(const StateDict& tensors, const Metadata& metadata, Device device, RNNImpl impl) {
  const RNNOptions rnn_options = options(metadata);
  Tensor x = optional(tensors, "x");
  RECUR_CHECK(x.defined(), "RNN case: tensor 'x' is missing");
  RECUR_CHECK(x.dtype() == DType::Float32 || x.dtype() == DType::Float64,
              "RNN case: x must be float32 or float64, got {}", x.describe());
  const DType dtype = x.dtype();

  // The module is built before its weights are matched by name: first make sure the case can
  // hold them, so that options naming huge sizes are an error rather than a huge allocation.
  double case_elements = 0.0;
  for (const auto& [name, tensor] : tensors) case_elements += static_cast<double>(tensor.numel());
  RECUR_CHECK(weight_elements(rnn_options) <= case_elements,
              "RNN case: a {} with input_size {}, hidden_size {}, num_layers {} has {:.0f} weight elements, but the "
              "case's tensors hold {:.0f} in all: weights are missing",
              mode_name(rnn_options.mode), rnn_options.input_size, rnn_options.hidden_size, rnn_options.num_layers,
              weight_elements(rnn_options), case_elements);

  RNN rnn(rnn_options);
  rnn.to(dtype);
  // The weights: every parameter of the module must be in the case, with its shape.
  StateDict weights;
  for (const auto& [name, param] : rnn.named_parameters()) {
    Tensor w = optional(tensors, name);
    RECUR_CHECK(w.defined(), "RNN case: weight '{}' is missing (a {} with these options needs it)", name,
                mode_name(rnn_options.mode));
    RECUR_CHECK(w.dtype() == dtype, "RNN case: weight '{}' is {}, but x is {}", name, w.describe(), dtype);
    weights[name] = w;
  }
  rnn.load_state_dict(weights, /*strict=*/false);
  rnn.to(device);
  rnn.set_implementation(impl);
  rnn.eval();

  // h0/c0 become leaves on the device so that their gradients can be read.
  auto state_leaf = [&](const std::string& name) {
    Tensor t = optional(tensors, name);
    if (!t.defined()) return t;
    RECUR_CHECK(t.dtype() == dtype, "RNN case: '{}' is {}, but x is {}", name, t.describe(), dtype);
    Tensor leaf = t.to(device).detach();
    leaf.requires_grad_();
    return leaf;
  };
  Tensor xd = x.to(device).detach();
  xd.requires_grad_();
  Tensor h0 = state_leaf("h0"), c0 = state_leaf("c0");
  Tensor lengths = optional(tensors, "lengths");
  if (lengths.defined()) {
    RECUR_CHECK(lengths.dtype() == DType::Int64, "RNN case: lengths must be int64, got {}", lengths.describe());
  }
  RECUR_CHECK(!c0.defined() || rnn_options.mode == RNNMode::LSTM, "RNN case: c0 given for mode {}",
              mode_name(rnn_options.mode));

  auto [y, state] = rnn.forward(xd, RNNState{h0, c0}, lengths);

  // loss = sum(y*dy) + sum(hn*dhn) + sum(cn*dcn)
  Tensor dy = optional(tensors, "dy");
  RECUR_CHECK(dy.defined(), "RNN case: tensor 'dy' is missing");
  RECUR_CHECK(dy.shape() == y.shape() && dy.dtype() == dtype, "RNN case: dy must be {}{}, got {}", dtype,
              shape_str(y.shape()), dy.describe());
  std::vector<Tensor> roots{y}, grads{dy.to(device)};
  Tensor dhn = optional(tensors, "dhn"), dcn = optional(tensors, "dcn");
  if (dhn.defined()) {
    RECUR_CHECK(dhn.shape() == state.h.shape() && dhn.dtype() == dtype, "RNN case: dhn must be {}{}, got {}", dtype,
                shape_str(state.h.shape()), dhn.describe());
    roots.push_back(state.h);
    grads.push_back(dhn.to(device));
  }
  if (dcn.defined()) {
    RECUR_CHECK(state.c.defined(), "RNN case: dcn given for mode {}, which has no cell state",
                mode_name(rnn_options.mode));
    RECUR_CHECK(dcn.shape() == state.c.shape() && dcn.dtype() == dtype, "RNN case: dcn must be {}{}, got {}", dtype,
                shape_str(state.c.shape()), dcn.describe());
    roots.push_back(state.c);
    grads.push_back(dcn.to(device));
  }
  autograd::backward(roots, grads);

  StateDict out;
  auto cpu = [](const Tensor& t) { return t.detach().to(Device::cpu()); };
  out["y"] = cpu(y);
  out["hn"] = cpu(state.h);
  if (state.c.defined()) out["cn"] = cpu(state.c);
  auto grad_or_zero = [&](const Tensor& t) { return t.grad().defined() ? cpu(t.grad()) : zeros_like(cpu(t)); };
  out["grad.x"] = grad_or_zero(xd);
  if (h0.defined()) out["grad.h0"] = grad_or_zero(h0);
  if (c0.defined()) out["grad.c0"] = grad_or_zero(c0);
  for (const auto& [name, param] : rnn.named_parameters()) out["grad." + name] = grad_or_zero(param);
  return out;
}

}  // namespace recur::rnn_case
