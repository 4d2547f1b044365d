#include "nn/rnn_functional.h"

#include <functional>

#include "autograd/dropout_shard.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "backends/backend.h"
#include "backends/compute.h"

namespace recur::nn {

namespace {

// ---- argument checks ------------------------------------------------------------------------

struct Dims {
  int64_t steps, batch;
  Tensor lengths_cpu;  // the lengths read to the host once (int64 [B], contiguous), or undefined
};

Dims check_inputs(const RNNOptions& o, const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& lengths) {
  RECUR_CHECK(x.defined() && x.dim() == 3, "RNN: input must have 3 dimensions ({}), got {}",
              o.batch_first ? "[batch, time, features]" : "[time, batch, features]", x.describe());
  const bool reduced = x.dtype() == DType::Float16 || x.dtype() == DType::BFloat16;
  RECUR_CHECK(x.dtype() == DType::Float32 || x.dtype() == DType::Float64 || (reduced && x.device().is_cuda()),
              "RNN: input must be float32 or float64 (float16 and bfloat16 on a GPU, through cuDNN), got {}",
              x.describe());
  const int64_t steps = o.batch_first ? x.size(1) : x.size(0), batch = o.batch_first ? x.size(0) : x.size(1);
  RECUR_CHECK(x.size(2) == o.input_size, "RNN: input has {} features, the layer was built for input_size={}", x.size(2),
              o.input_size);
  RECUR_CHECK(steps >= 1 && batch >= 1, "RNN: input {} has no time steps or no batch", x.describe());
  const int64_t states = o.num_layers * o.num_directions();
  const Shape h_shape{states, batch, o.output_hidden_size()};
  const Shape c_shape{states, batch, o.hidden_size};
  if (h0.defined()) {
    RECUR_CHECK(h0.shape() == h_shape, "RNN: h0 must be {} (num_layers * num_directions, batch, {}), got {}",
                shape_str(h_shape), o.proj_size > 0 ? "proj_size" : "hidden_size", h0.describe());
    RECUR_CHECK(h0.dtype() == x.dtype() && h0.device() == x.device(), "RNN: h0 is {} but the input is {}",
                h0.describe(), x.describe());
  }
  if (c0.defined()) {
    RECUR_CHECK(o.mode == RNNMode::LSTM, "RNN: c0 given for mode {}, which has no cell state", mode_name(o.mode));
    RECUR_CHECK(c0.shape() == c_shape, "RNN: c0 must be {} (num_layers * num_directions, batch, hidden_size), got {}",
                shape_str(c_shape), c0.describe());
    RECUR_CHECK(c0.dtype() == x.dtype() && c0.device() == x.device(), "RNN: c0 is {} but the input is {}",
                c0.describe(), x.describe());
  }
  if (lengths.defined()) {
    RECUR_CHECK(lengths.dtype() == DType::Int64 && lengths.dim() == 1 && lengths.size(0) == batch,
                "RNN: lengths must be int64 [{}] (one per sequence), got {}", batch, lengths.describe());
    // The one read of lengths on the host (a synchronisation when they live on a GPU): every
    // path below takes this CPU copy.
    const std::vector<int64_t> values = lengths.to_vector<int64_t>();
    for (size_t b = 0; b < values.size(); ++b) {
      RECUR_CHECK(values[b] >= 1 && values[b] <= steps, "RNN: lengths[{}] = {} is out of range 1..{} (time steps)", b,
                  values[b], steps);
    }
    return {steps, batch, from_vector<int64_t>(values, {batch}, TensorOptions{}.with_dtype(DType::Int64))};
  }
  return {steps, batch, Tensor()};
}

// ---- the layer stack, shared by both implementations ------------------------------------------

// Runs one layer and direction: (weights index l * D + d, reverse, layer input [T, B, I_l],
// initial state) -> (output [T, B, R], final state).
using LayerRun = std::function<std::pair<Tensor, CellState>(int64_t, bool, const Tensor&, CellState)>;

// Initial states from h0/c0 (zeros when absent), directions concatenated on the feature axis
// (forward first), dropout between layers (never after the last), final states stacked.
// hidden: the variational dropout masks [1, B, D*R] of layers 0 .. L-2, or none.
RNNOutput run_layers(const RNNOptions& o, const Tensor& x_tbi, const Tensor& h0, const Tensor& c0, bool training,
                     Generator* generator, const std::vector<Tensor>& hidden, const LayerRun& run) {
  const int64_t dirs = o.num_directions(), batch = x_tbi.size(1);
  const TensorOptions like = TensorOptions{}.with_dtype(x_tbi.dtype()).with_device(x_tbi.device());
  Tensor layer_input = x_tbi;
  std::vector<Tensor> hs, cs;
  for (int64_t layer = 0; layer < o.num_layers; ++layer) {
    std::vector<Tensor> outputs;
    for (int64_t dir = 0; dir < dirs; ++dir) {
      const int64_t index = layer * dirs + dir;
      CellState initial;
      initial.h = h0.defined() ? select(h0, 0, index) : zeros({batch, o.output_hidden_size()}, like);
      if (o.mode == RNNMode::LSTM) {
        initial.c = c0.defined() ? select(c0, 0, index) : zeros({batch, o.hidden_size}, like);
      }
      auto [output, final_state] = run(index, dir == 1, layer_input, initial);
      outputs.push_back(output);
      hs.push_back(final_state.h);
      if (final_state.c.defined()) cs.push_back(final_state.c);
    }
    Tensor out = dirs == 2 ? concat(outputs, 2) : outputs[0];
    // y_l <- y_l * m_l, m_l [1, B, D*R] the same at every step
    if (layer + 1 < o.num_layers && !hidden.empty()) out = out * hidden[static_cast<size_t>(layer)];
    if (layer + 1 < o.num_layers && training && o.dropout > 0.0) out = dropout(out, o.dropout, true, generator);
    layer_input = out;
  }
  RNNOutput result;
  result.output = layer_input;
  result.h_n = stack(hs, 0);
  if (!cs.empty()) result.c_n = stack(cs, 0);
  return result;
}

// ---- the cell graph -------------------------------------------------------------------------

RNNOutput forward_cells(const RNNOptions& o, const std::vector<CellWeights>& weights, const Tensor& x_tbi,
                        const Tensor& h0, const Tensor& c0, const Tensor& lengths, bool training, Generator* generator,
                        const std::vector<Tensor>& hidden, Dims dims) {
  const int64_t steps = dims.steps, batch = dims.batch;
  // masks[t] = [B, 1], 1 where t < lengths[b]
  std::vector<Tensor> masks;
  if (lengths.defined()) {
    const std::vector<int64_t> lens = lengths.to_vector<int64_t>();
    for (int64_t t = 0; t < steps; ++t) {
      std::vector<double> m(static_cast<size_t>(batch));
      for (int64_t b = 0; b < batch; ++b) m[b] = t < lens[b] ? 1.0 : 0.0;
      masks.push_back(from_vector<double>(m, {batch, 1}, TensorOptions{}.with_dtype(DType::Float64))
                          .to(x_tbi.dtype())
                          .to(x_tbi.device()));
    }
  }
  return run_layers(
      o, x_tbi, h0, c0, training, generator, hidden,
      [&](int64_t index, bool reverse, const Tensor& input, CellState state) -> std::pair<Tensor, CellState> {
        const CellWeights& w = weights[index];
        Tensor xg = input_gates(reshape(input, {steps * batch, input.size(2)}), w, o);
        xg = reshape(xg, {steps, batch, -1});
        std::vector<Tensor> ys(static_cast<size_t>(steps));
        for (int64_t s = 0; s < steps; ++s) {
          const int64_t t = reverse ? steps - 1 - s : s;
          CellState next = cell_step(select(xg, 0, t), state, w, o);
          if (lengths.defined()) {
            const Tensor& m = masks[t];
            ys[t] = next.h * m;
            state.h = where(m, next.h, state.h);
            if (next.c.defined()) state.c = where(m, next.c, state.c);
          } else {
            ys[t] = next.h;
            state = next;
          }
        }
        return {stack(ys, 0), state};
      });
}

// ---- the fused path: a backend's RnnKernels (backends/rnn.h) ---------------------------------

RnnCell cell_of(RNNMode mode) {
  switch (mode) {
    case RNNMode::LSTM: return RnnCell::LSTM;
    case RNNMode::GRU: return RnnCell::GRU;
    case RNNMode::RNN_TANH: return RnnCell::RNN_TANH;
    case RNNMode::RNN_RELU: return RnnCell::RNN_RELU;
  }
  return RnnCell::LSTM;
}

// The whole stack of `o`, in `dtype`.
RnnDesc stack_desc(const RNNOptions& o, DType dtype) {
  RnnDesc d;
  d.cell = cell_of(o.mode);
  d.input_size = o.input_size;
  d.hidden_size = o.hidden_size;
  d.proj_size = o.proj_size;
  d.num_layers = o.num_layers;
  d.bidirectional = o.num_directions() == 2;
  d.bias = o.bias;
  d.skip_input = o.skip_input();
  d.dropout = o.dropout;
  d.dropout_seed = o.dropout_seed;
  d.variational_dropout = o.variational_dropout;
  d.peepholes = o.use_peepholes;
  d.relu_activation = o.activation != Activation::Tanh;
  d.forget_bias = o.forget_bias;
  d.cell_clip = o.cell_clip;
  d.proj_clip = o.proj_clip;
  d.gru_reset_before_linear = o.gru_variant != GRUVariant::LinearBeforeReset;
  d.dtype = dtype;
  return d;
}

// Layer `layer` alone, one direction (reverse: the second).
RnnDesc layer_desc(const RNNOptions& o, DType dtype, int64_t layer, bool reverse) {
  RnnDesc d = stack_desc(o, dtype);
  d.input_size = layer == 0 ? o.input_size : o.num_directions() * o.output_hidden_size();
  d.num_layers = 1;
  d.bidirectional = false;
  d.reverse = reverse;
  d.skip_input = layer == 0 && o.skip_input();
  d.dropout = 0.0;
  d.variational_dropout = 0.0;
  return d;
}

// How the device's backend runs `o` fused: the whole stack in one call, one layer and direction
// per call, or not at all (`why` says why).
enum class FusedScope : uint8_t { None, Stack, Layer };

FusedScope fused_scope(const RNNOptions& o, Device device, DType dtype, std::string* why) {
  RnnKernels* kernels = nullptr;
  try {
    kernels = backend_for(device).rnn();
  } catch (const Error& error) {  // a CUDA device that is not visible
    if (why) *why = error.what();
    return FusedScope::None;
  }
  if (kernels == nullptr) {
    if (why) *why = fmt::format("the {} backend has no fused RNN", device);
    return FusedScope::None;
  }
  if (kernels->supports(stack_desc(o, dtype), why)) return FusedScope::Stack;
  // Every layer and direction must be supported on its own (layer 0 may differ: skip input).
  for (int64_t layer = 0; layer < std::min<int64_t>(o.num_layers, 2); ++layer) {
    for (int64_t dir = 0; dir < o.num_directions(); ++dir) {
      if (!kernels->supports(layer_desc(o, dtype, layer, dir == 1), why)) return FusedScope::None;
    }
  }
  return FusedScope::Layer;
}

Tensor detached(const Tensor& t) { return t.defined() ? t.detach() : Tensor(); }

// One call of a backend's fused RNN as one autograd node: inputs (x, h0, c0, then weight_ih,
// weight_hh, bias_ih, bias_hh, weight_hr of each weight set), outputs (y, h_n[, c_n]). The node
// carries the backend's saved state; its backward is backward_data then backward_weights.
std::vector<Tensor> fused_call(RnnKernels& kernels, const RnnDesc& desc, const std::vector<const CellWeights*>& weights,
                               const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& lengths_cpu,
                               bool training, Generator* generator) {
  std::vector<Tensor> inputs{x, h0, c0};
  std::vector<RnnWeights> raw;
  for (const CellWeights* w : weights) {
    for (const Tensor* t : {&w->weight_ih, &w->weight_hh, &w->bias_ih, &w->bias_hh, &w->weight_hr})
      inputs.push_back(*t);
    raw.push_back({detached(w->weight_ih), detached(w->weight_hh), detached(w->bias_ih), detached(w->bias_hh),
                   detached(w->weight_hr)});
  }
  const bool record = autograd::needs_grad(inputs);
  RnnForward f = kernels.forward(desc, raw, detached(x), detached(h0), detached(c0), lengths_cpu,
                                 training ? RnnPhase::Training : RnnPhase::Inference,
                                 record ? KeepForBackward::Yes : KeepForBackward::No, generator);
  std::vector<Tensor> outputs{f.y, f.h_n};
  if (f.c_n.defined()) outputs.push_back(f.c_n);
  if (!record) return outputs;
  // The closure holds the backend's saved state only, never the outputs themselves: record()
  // makes this node their grad_fn, and capturing them would be a cycle.
  std::shared_ptr<RnnSaved> saved = f.saved;
  RnnKernels* backend = &kernels;
  return autograd::record("rnn_fused", inputs, outputs, [backend, saved](const std::vector<Tensor>& g) {
    const auto grad = [&](size_t i) { return i < g.size() ? g[i] : Tensor(); };
    RnnDataGrads data = backend->backward_data(*saved, grad(0), grad(1), grad(2));
    std::vector<Tensor> result{data.dx, data.dh0, data.dc0};
    for (const RnnWeights& w : backend->backward_weights(*saved)) {
      for (const Tensor* t : {&w.weight_ih, &w.weight_hh, &w.bias_ih, &w.bias_hh, &w.weight_hr}) result.push_back(*t);
    }
    return result;
  });
}

// The whole stack in one call (cuDNN).
RNNOutput forward_fused_stack(RnnKernels& kernels, const RNNOptions& o, const std::vector<CellWeights>& weights,
                              const Tensor& x_tbi, const Tensor& h0, const Tensor& c0, const Tensor& lengths_cpu,
                              bool training, Generator* generator) {
  std::vector<const CellWeights*> all;
  for (const CellWeights& w : weights) all.push_back(&w);
  const std::vector<Tensor> out = fused_call(kernels, stack_desc(o, x_tbi.dtype()), all, x_tbi, h0,
                                             o.mode == RNNMode::LSTM ? c0 : Tensor(), lengths_cpu, training, generator);
  return RNNOutput{out[0], out[1], out.size() > 2 ? out[2] : Tensor()};
}

// One call per layer and direction (the CPU's fused layer), stacked by run_layers.
RNNOutput forward_fused_layers(RnnKernels& kernels, const RNNOptions& o, const std::vector<CellWeights>& weights,
                               const Tensor& x_tbi, const Tensor& h0, const Tensor& c0, const Tensor& lengths_cpu,
                               bool training, Generator* generator, const std::vector<Tensor>& hidden) {
  const int64_t batch = x_tbi.size(1);
  return run_layers(
      o, x_tbi, h0, c0, training, generator, hidden,
      [&](int64_t index, bool reverse, const Tensor& input, const CellState& state) -> std::pair<Tensor, CellState> {
        const int64_t layer = index / o.num_directions();
        const RnnDesc desc = layer_desc(o, input.dtype(), layer, reverse);
        const Tensor h = reshape(state.h, {1, batch, o.output_hidden_size()});
        const Tensor c = state.c.defined() ? reshape(state.c, {1, batch, o.hidden_size}) : Tensor();
        const std::vector<Tensor> out =
            fused_call(kernels, desc, {&weights[index]}, input, h, c, lengths_cpu, training, generator);
        CellState final_state{reshape(out[1], {batch, o.output_hidden_size()}),
                              out.size() > 2 ? reshape(out[2], {batch, o.hidden_size}) : Tensor()};
        return {out[0], final_state};
      });
}

// ---- AWD-LSTM's masks (variational_dropout, weight_dropout) ----------------------------

// A mask of `shape`, each element 1 / keep with probability keep else 0, in `dtype` (drawn in
// float32 for the reduced types).
Tensor draw_mask(const Shape& shape, double keep, DType dtype, Device device, Generator& generator) {
  const DType drawn = dtype == DType::Float64 ? DType::Float64 : DType::Float32;
  const Tensor mask = compute::dropout_mask(shape, drawn, device, keep, generator);
  return drawn == dtype ? mask : mask.to(dtype);
}

// A given mask, checked against the shape it must have and brought to x's dtype and device.
Tensor given_mask(const Tensor& mask, const Shape& shape, const char* what, size_t index, const Tensor& x) {
  RECUR_CHECK(mask.defined() && mask.shape() == shape, "RNN: the given {} mask {} must be {}, got {}", what, index,
              shape_str(shape), mask.defined() ? mask.describe() : std::string("an undefined tensor"));
  return mask.to(x.dtype()).to(x.device());
}

// The masks of one training call: the given ones, else drawn (weights' first, then the layers').
RNNDropoutMasks awd_masks(const RNNOptions& o, const std::vector<CellWeights>& weights, const Tensor& x_tbi,
                          Generator* generator, const RNNDropoutMasks* given) {
  Generator& stream = generator != nullptr ? *generator : default_generator();
  RNNDropoutMasks masks;
  if (o.weight_dropout > 0.0) {
    const bool use_given = given != nullptr && !given->weight_hh.empty();
    RECUR_CHECK(!use_given || given->weight_hh.size() == weights.size(),
                "RNN: {} weight_hh masks given, expected one per weight set ({})",
                use_given ? given->weight_hh.size() : 0, weights.size());
    for (size_t i = 0; i < weights.size(); ++i) {
      const Shape& shape = weights[i].weight_hh.shape();
      masks.weight_hh.push_back(use_given
                                    ? given_mask(given->weight_hh[i], shape, "weight_hh", i, x_tbi)
                                    : draw_mask(shape, 1.0 - o.weight_dropout, x_tbi.dtype(), x_tbi.device(), stream));
    }
  }
  if (o.variational_dropout > 0.0 && o.num_layers > 1) {
    const int64_t batch = x_tbi.size(1), features = o.num_directions() * o.output_hidden_size();
    const auto layers = static_cast<size_t>(o.num_layers - 1);
    const bool use_given = given != nullptr && !given->hidden.empty();
    RECUR_CHECK(!use_given || given->hidden.size() == layers,
                "RNN: {} hidden masks given, expected one per layer but the last ({})",
                use_given ? given->hidden.size() : 0, layers);
    for (size_t l = 0; l < layers; ++l) {
      const Tensor mask = use_given ? given_mask(given->hidden[l], {batch, features}, "hidden", l, x_tbi)
                                    : batch_dropout_mask(batch, features, 1.0 - o.variational_dropout, x_tbi.dtype(),
                                                         x_tbi.device(), stream);
      masks.hidden.push_back(reshape(mask, {1, batch, features}));
    }
  }
  return masks;
}

}  // namespace

Tensor batch_dropout_mask(int64_t batch, int64_t features, double keep, DType dtype, Device device,
                          Generator& generator) {
  const DropoutShard shard = dropout_shard();
  if (shard.global <= 0) return draw_mask({batch, features}, keep, dtype, device, generator);
  RECUR_CHECK(shard.first >= 0 && shard.first + batch <= shard.global,
              "variational dropout of streams [{}, {}) outside the global batch of {}", shard.first,
              shard.first + batch, shard.global);
  const Tensor global = draw_mask({shard.global, features}, keep, dtype, device, generator);
  return compute::contiguous(global.narrow(0, shard.first, batch));
}

std::string impl_name(RNNImpl impl) {
  switch (impl) {
    case RNNImpl::Auto: return "auto";
    case RNNImpl::Cells: return "cells";
    case RNNImpl::Fused: return "fused";
  }
  return "?";
}

RNNImpl parse_impl(const std::string& name) {
  if (name == "auto") return RNNImpl::Auto;
  if (name == "cells") return RNNImpl::Cells;
  if (name == "fused") return RNNImpl::Fused;
  RECUR_FAIL("unknown RNN implementation '{}' (expected auto, cells or fused)", name);
}

RnnDesc rnn_desc(const RNNOptions& options, DType dtype) { return stack_desc(options, dtype); }

bool fused_supports(const RNNOptions& o, Device device, std::string* why, DType dtype) {
  return fused_scope(o, device, dtype, why) != FusedScope::None;
}

RNNImpl resolve_impl(const RNNOptions& options, Device device, RNNImpl requested, DType dtype) {
  if (requested == RNNImpl::Cells) return RNNImpl::Cells;
  std::string why;
  const bool fused = fused_supports(options, device, &why, dtype);
  RECUR_CHECK(requested != RNNImpl::Fused || fused, "RNN: the fused implementation was requested but {}", why);
  return fused ? RNNImpl::Fused : RNNImpl::Cells;
}

RNNOutput rnn_forward(const RNNOptions& o, const std::vector<CellWeights>& weights, const Tensor& x, const Tensor& h0,
                      const Tensor& c0, const Tensor& lengths, RnnPhase phase, Generator* generator, RNNImpl impl,
                      const RNNDropoutMasks* masks) {
  const bool training = phase == RnnPhase::Training;
  o.validate();
  const Dims dims = check_inputs(o, x, h0, c0, lengths);
  RECUR_CHECK(static_cast<int64_t>(weights.size()) == o.num_layers * o.num_directions(),
              "RNN: {} weight sets given, expected num_layers * num_directions = {}", weights.size(),
              o.num_layers * o.num_directions());
  Tensor x_tbi = o.batch_first ? transpose(x, 0, 1) : x;
  std::string why;
  const FusedScope scope = impl == RNNImpl::Cells ? FusedScope::None : fused_scope(o, x.device(), x.dtype(), &why);
  RECUR_CHECK(impl != RNNImpl::Fused || scope != FusedScope::None, "RNN: the fused implementation was requested but {}",
              why);
  const bool reduced = x.dtype() == DType::Float16 || x.dtype() == DType::BFloat16;
  RECUR_CHECK(!reduced || scope != FusedScope::None,
              "RNN: {} runs only on a fused RNN (cuDNN), which cannot run this layer{}{}", x.dtype(),
              why.empty() ? "" : ": ", why.empty() ? std::string(" (the cell graph was requested)") : why);
  const Tensor& lengths_cpu = dims.lengths_cpu;
  const RNNDropoutMasks awd = training ? awd_masks(o, weights, x_tbi, generator, masks) : RNNDropoutMasks{};
  // Weight dropout: every path runs on W_hh * mask, whose gradient flows to W_hh through the product.
  std::vector<CellWeights> dropped;
  if (!awd.weight_hh.empty()) {
    dropped = weights;
    for (size_t i = 0; i < dropped.size(); ++i) dropped[i].weight_hh = weights[i].weight_hh * awd.weight_hh[i];
  }
  const std::vector<CellWeights>& run = dropped.empty() ? weights : dropped;
  RNNOutput out;
  if (scope == FusedScope::None) {
    out = forward_cells(o, run, x_tbi, h0, c0, lengths_cpu, training, generator, awd.hidden, dims);
  } else {
    RnnKernels& kernels = *backend_for(x.device()).rnn();
    RECUR_CHECK(scope == FusedScope::Layer || awd.hidden.empty(),
                "RNN: the {} backend's stack took variational_dropout, which runs between its layers here "
                "(its supports() must refuse it)",
                x.device());
    out = scope == FusedScope::Stack
              ? forward_fused_stack(kernels, o, run, x_tbi, h0, c0, lengths_cpu, training, generator)
              : forward_fused_layers(kernels, o, run, x_tbi, h0, c0, lengths_cpu, training, generator, awd.hidden);
  }
  if (o.batch_first) out.output = transpose(out.output, 0, 1);
  return out;
}

std::optional<RnnWeightLayout> fused_weight_layout(const RNNOptions& options, Device device, DType dtype) {
  if (fused_scope(options, device, dtype, nullptr) != FusedScope::Stack) return std::nullopt;
  return backend_for(device).rnn()->weight_layout(stack_desc(options, dtype));
}

}  // namespace recur::nn
