#include "nn/rnn.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "backends/compute.h"

namespace recur::nn {

namespace {

// What a weight is for, in the slots of its layer and direction.
enum class WeightRole : uint8_t { InputWeight, HiddenWeight, InputBias, HiddenBias, Projection, Peephole };

struct WeightSpec {
  int64_t layer_direction;  // layer * directions + direction
  WeightRole role;
  RNNWeightShape weight;
};

int64_t checked_product(int64_t a, int64_t b, const char* what) {
  int64_t product = 0;
  RECUR_CHECK(!__builtin_mul_overflow(a, b, &product), "RNN: {} ({} x {}) overflows a 64-bit size", what, a, b);
  return product;
}

// Every weight, in flat order: the one place that says which weights an RNN has.
std::vector<WeightSpec> weight_specs(const RNNOptions& options) {
  options.validate();
  const int64_t dirs = options.num_directions(), hidden = options.hidden_size, rec = options.output_hidden_size();
  const int64_t gates_h = checked_product(options.gates(), hidden, "gates x hidden_size");
  const int64_t upper_input = checked_product(rec, dirs, "directions x output size");
  std::vector<WeightSpec> specs;
  for (int64_t layer = 0; layer < options.num_layers; ++layer) {
    for (int64_t dir = 0; dir < dirs; ++dir) {
      const int64_t index = layer * dirs + dir;
      const std::string suffix = fmt::format("_l{}{}", layer, dir == 1 ? "_reverse" : "");
      const auto add = [&](WeightRole role, const char* name, Shape shape) {
        specs.push_back({index, role, {name + suffix, std::move(shape)}});
      };
      if (!(layer == 0 && options.skip_input())) {
        add(WeightRole::InputWeight, "weight_ih", {gates_h, layer == 0 ? options.input_size : upper_input});
      }
      add(WeightRole::HiddenWeight, "weight_hh", {gates_h, rec});
      if (options.bias) {
        add(WeightRole::InputBias, "bias_ih", {gates_h});
        add(WeightRole::HiddenBias, "bias_hh", {gates_h});
      }
      if (options.proj_size > 0) add(WeightRole::Projection, "weight_hr", {rec, hidden});
      if (options.use_peepholes) add(WeightRole::Peephole, "weight_peephole", {3, hidden});
    }
  }
  return specs;
}

}  // namespace

std::vector<RNNWeightShape> rnn_weight_shapes(const RNNOptions& options) {
  std::vector<RNNWeightShape> shapes;
  for (WeightSpec& spec : weight_specs(options)) shapes.push_back(std::move(spec.weight));
  return shapes;
}

RNN::RNN(const RNNOptions& options, Generator* generator)
    : options_(options), dropout_generator_(options.dropout_seed) {
  options_.validate();
  const int64_t hidden = options_.hidden_size;
  layers_.resize(static_cast<size_t>(options_.num_layers * options_.num_directions()));
  for (WeightSpec& spec : weight_specs(options_)) {
    const int slot = static_cast<int>(slots_.size());
    const int64_t elements = numel_of(spec.weight.shape);
    slots_.push_back({std::move(spec.weight.name), std::move(spec.weight.shape), total_, total_, Tensor()});
    total_ += elements;
    LayerSlots& s = layers_[static_cast<size_t>(spec.layer_direction)];
    switch (spec.role) {
      case WeightRole::InputWeight: s.weight_ih = slot; break;
      case WeightRole::HiddenWeight: s.weight_hh = slot; break;
      case WeightRole::InputBias: s.bias_ih = slot; break;
      case WeightRole::HiddenBias: s.bias_hh = slot; break;
      case WeightRole::Projection: s.weight_hr = slot; break;
      case WeightRole::Peephole: s.weight_peephole = slot; break;
    }
  }
  own_total_ = total_;
  // U(-1/sqrt(H), 1/sqrt(H)) over the whole flat buffer, drawn in flat order.
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden));
  flat_ = rand({total_}, TensorOptions{}, generator, -bound, bound);
  for (Slot& slot : slots_) {
    slot.tensor =
        register_parameter(slot.name, flat_.as_strided_raw(slot.shape, contiguous_strides(slot.shape), slot.offset));
  }
}

std::string RNN::name() const {
  switch (options_.mode) {
    case RNNMode::LSTM: return "LSTM";
    case RNNMode::GRU: return "GRU";
    default: return "RNN";
  }
}

std::string RNN::extra_repr() const {
  std::string s = fmt::format("{}, {}, num_layers={}", options_.input_size, options_.hidden_size, options_.num_layers);
  if (options_.mode == RNNMode::RNN_RELU) s += ", nonlinearity=relu";
  if (!options_.bias) s += ", bias=false";
  if (options_.batch_first) s += ", batch_first=true";
  if (options_.dropout > 0) s += fmt::format(", dropout={}", options_.dropout);
  if (options_.variational_dropout > 0) s += fmt::format(", variational_dropout={}", options_.variational_dropout);
  if (options_.weight_dropout > 0) s += fmt::format(", weight_dropout={}", options_.weight_dropout);
  if (options_.direction == Direction::Bidirectional) s += ", bidirectional=true";
  if (options_.proj_size > 0) s += fmt::format(", proj_size={}", options_.proj_size);
  return s;
}

Shape RNN::state_shape(int64_t batch) const {
  return {options_.num_layers * options_.num_directions(), batch, options_.output_hidden_size()};
}

Shape RNN::cell_state_shape(int64_t batch) const {
  return {options_.num_layers * options_.num_directions(), batch, options_.hidden_size};
}

RNNState RNN::zero_state(int64_t batch) const {
  const Tensor& any = slots_.front().tensor;
  const TensorOptions like = TensorOptions{}.with_dtype(any.dtype()).with_device(any.device());
  RNNState state;
  state.h = zeros(state_shape(batch), like);
  if (options_.mode == RNNMode::LSTM) state.c = zeros(cell_state_shape(batch), like);
  return state;
}

RNNImpl RNN::implementation() const {
  const Tensor& any = slots_.front().tensor;
  return resolve_impl(options_, any.device(), requested_impl_, any.dtype());
}

int64_t RNN::params_size() const { return total_; }

void RNN::flatten_parameters() {
  const Tensor& first = slots_.front().tensor;
  bool flat = flat_.defined() && flat_.dtype() == first.dtype() && flat_.device() == first.device();
  for (const Slot& slot : slots_) {
    flat = flat && slot.tensor.storage() == flat_.storage() && slot.tensor.offset() == slot.offset &&
           slot.tensor.is_contiguous();
  }
  if (flat) return;
  NoGradGuard no_grad;
  // The layout for the weights' device: the one its fused RNN reads in place where it has one
  // that keeps each weight as one block (cuDNN's weight space), so that the backend runs on the
  // buffer as it is; else recur's own.
  Tensor buffer;
  std::vector<int64_t> offsets(slots_.size(), -1);
  if (std::optional<RnnWeightLayout> layout = fused_weight_layout(options_, first.device(), first.dtype())) {
    bool complete = layout->offsets.size() == layers_.size();
    for (size_t i = 0; complete && i < layers_.size(); ++i) {
      const LayerSlots& s = layers_[i];
      const int members[5] = {s.weight_ih, s.weight_hh, s.bias_ih, s.bias_hh, s.weight_hr};
      for (int k = 0; k < 5; ++k) {
        if (members[k] < 0) continue;
        offsets[members[k]] = layout->offsets[i][k];
        complete = complete && layout->offsets[i][k] >= 0;
      }
    }
    if (complete)
      buffer = zeros({layout->elements}, TensorOptions{}.with_dtype(first.dtype()).with_device(first.device()));
  }
  if (!buffer.defined()) {
    buffer = make_contiguous_tensor({own_total_}, first.dtype(), first.device());
    for (size_t i = 0; i < slots_.size(); ++i) offsets[i] = slots_[i].own_offset;
  }
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    slot.offset = offsets[i];
    Tensor window = buffer.as_strided_raw(slot.shape, contiguous_strides(slot.shape), slot.offset);
    backend_of(window).copy(window, slot.tensor.detach());
    // Re-point the parameter's TensorImpl (identity kept for optimizers) into the buffer.
    TensorImpl& impl = slot.tensor.impl();
    impl.storage = buffer.storage();
    impl.offset = slot.offset;
    impl.strides = contiguous_strides(slot.shape);
  }
  flat_ = buffer;
  total_ = buffer.numel();
}

Tensor RNN::flat_parameters() {
  flatten_parameters();
  return flat_.detach();
}

void RNN::set_flat_parameters(const Tensor& params) {
  RECUR_CHECK(params.defined() && params.dim() == 1 && params.numel() == total_,
              "set_flat_parameters: expected a flat buffer of {} elements (params_size), got {}", total_,
              params.defined() ? params.describe() : std::string("an undefined tensor"));
  Tensor flat = flat_parameters();
  NoGradGuard no_grad;
  flat.copy_(params.detach());
}

CellWeights RNN::layer_weights(int64_t layer, int64_t direction) const {
  RECUR_CHECK(layer >= 0 && layer < options_.num_layers && direction >= 0 && direction < options_.num_directions(),
              "RNN: layer {} direction {} does not exist (num_layers={}, num_directions={})", layer, direction,
              options_.num_layers, options_.num_directions());
  const LayerSlots& s = layers_[layer * options_.num_directions() + direction];
  auto get = [&](int index) { return index >= 0 ? slots_[index].tensor : Tensor(); };
  return {get(s.weight_ih), get(s.weight_hh), get(s.bias_ih), get(s.bias_hh), get(s.weight_hr), get(s.weight_peephole)};
}

std::pair<Tensor, RNNState> RNN::forward(const Tensor& x, const RNNState& state, const Tensor& lengths,
                                         const RNNDropoutMasks* masks) {
  flatten_parameters();
  std::vector<CellWeights> weights;
  for (int64_t layer = 0; layer < options_.num_layers; ++layer) {
    for (int64_t dir = 0; dir < options_.num_directions(); ++dir) weights.push_back(layer_weights(layer, dir));
  }
  RECUR_CHECK(!x.defined() || x.dtype() == slots_.front().tensor.dtype(),
              "{}: input is {} but the weights are {} (convert one of them)", name(), x.describe(),
              slots_.front().tensor.dtype());
  RNNOutput out = rnn_forward(options_, weights, x, state.h, state.c, lengths,
                              is_training() ? RnnPhase::Training : RnnPhase::Inference, &dropout_generator_,
                              requested_impl_, masks);
  return {out.output, RNNState{out.h_n, out.c_n}};
}

// ---- canonical weights ---------------------------------------------------------------------

std::vector<Shape> RNN::canonical_weight_shapes() const {
  std::vector<Shape> shapes;
  const int64_t gates = options_.gates(), hidden = options_.hidden_size;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const LayerSlots& s = layers_[i];
    if (s.weight_ih >= 0) {
      for (int64_t k = 0; k < gates; ++k) shapes.push_back({hidden, slots_[s.weight_ih].shape[1]});
    }
    for (int64_t k = 0; k < gates; ++k) shapes.push_back({hidden, slots_[s.weight_hh].shape[1]});
    if (s.weight_hr >= 0) shapes.push_back(slots_[s.weight_hr].shape);
    if (s.weight_peephole >= 0) shapes.push_back(slots_[s.weight_peephole].shape);
  }
  return shapes;
}

std::vector<Shape> RNN::canonical_bias_shapes() const {
  std::vector<Shape> shapes;
  if (!options_.bias) return shapes;
  for (size_t i = 0; i < layers_.size(); ++i) {
    for (int64_t k = 0; k < 2 * options_.gates(); ++k) shapes.push_back({options_.hidden_size});
  }
  return shapes;
}

std::pair<std::vector<Tensor>, std::vector<Tensor>> RNN::params_to_canonical(const Tensor& params) const {
  RECUR_CHECK(params.dim() == 1 && params.numel() == total_,
              "params_to_canonical: expected a flat buffer of {} elements (params_size), got {}", total_,
              params.describe());
  Tensor flat = params.is_contiguous() ? params : compute::contiguous(params);
  const int64_t gates = options_.gates(), hidden = options_.hidden_size;
  std::vector<Tensor> weights, biases;
  auto view = [&](int64_t offset, const Shape& shape) {
    return flat.as_strided_raw(shape, contiguous_strides(shape), flat.offset() + offset);
  };
  for (const LayerSlots& s : layers_) {
    for (int index : {s.weight_ih, s.weight_hh}) {
      if (index < 0) continue;
      const Slot& slot = slots_[index];
      for (int64_t k = 0; k < gates; ++k) {
        weights.push_back(view(slot.offset + k * hidden * slot.shape[1], {hidden, slot.shape[1]}));
      }
    }
    for (int index : {s.weight_hr, s.weight_peephole}) {
      if (index >= 0) weights.push_back(view(slots_[index].offset, slots_[index].shape));
    }
    for (int index : {s.bias_ih, s.bias_hh}) {
      if (index < 0) continue;
      for (int64_t k = 0; k < gates; ++k) biases.push_back(view(slots_[index].offset + k * hidden, {hidden}));
    }
  }
  return {weights, biases};
}

Tensor RNN::canonical_to_params(const std::vector<Tensor>& weights, const std::vector<Tensor>& biases) const {
  const std::vector<Shape> weight_shapes = canonical_weight_shapes(), bias_shapes = canonical_bias_shapes();
  RECUR_CHECK(weights.size() == weight_shapes.size() && biases.size() == bias_shapes.size(),
              "canonical_to_params: expected {} weights and {} biases, got {} and {}", weight_shapes.size(),
              bias_shapes.size(), weights.size(), biases.size());
  RECUR_CHECK(!weights.empty(), "canonical_to_params: no weights given");
  const DType dtype = weights[0].dtype();
  const Device device = weights[0].device();
  Tensor params = zeros({total_}, TensorOptions{}.with_dtype(dtype).with_device(device));
  auto [weight_views, bias_views] = params_to_canonical(params);
  NoGradGuard no_grad;
  for (size_t i = 0; i < weights.size(); ++i) {
    RECUR_CHECK(weights[i].shape() == weight_shapes[i], "canonical_to_params: weight {} must be {}, got {}", i,
                shape_str(weight_shapes[i]), weights[i].describe());
    weight_views[i].copy_(weights[i].detach());
  }
  for (size_t i = 0; i < biases.size(); ++i) {
    RECUR_CHECK(biases[i].shape() == bias_shapes[i], "canonical_to_params: bias {} must be {}, got {}", i,
                shape_str(bias_shapes[i]), biases[i].describe());
    bias_views[i].copy_(biases[i].detach());
  }
  return params;
}

}  // namespace recur::nn
