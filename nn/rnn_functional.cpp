#include "nn/rnn_functional.h"

#include <functional>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "backends/compute.h"
#include "backends/cpu/rnn_layer.h"
#include "nn/rnn_cudnn.h"

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
RNNOutput run_layers(const RNNOptions& o, const Tensor& x_tbi, const Tensor& h0, const Tensor& c0, bool training,
                     Generator* generator, const LayerRun& run) {
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
                        Dims dims) {
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
      o, x_tbi, h0, c0, training, generator,
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

// ---- the fused CPU path ---------------------------------------------------------------------

cpu::RnnCellKind kind_of(RNNMode mode) {
  switch (mode) {
    case RNNMode::LSTM: return cpu::RnnCellKind::LSTM;
    case RNNMode::GRU: return cpu::RnnCellKind::GRU;
    case RNNMode::RNN_TANH: return cpu::RnnCellKind::RNN_TANH;
    case RNNMode::RNN_RELU: return cpu::RnnCellKind::RNN_RELU;
  }
  return cpu::RnnCellKind::LSTM;
}

template <typename T> const T* ptr(const Tensor& t) {
  return t.defined() ? static_cast<const T*>(t.raw_data()) : nullptr;
}
template <typename T> T* mptr(const Tensor& t) { return t.defined() ? static_cast<T*>(t.raw_data()) : nullptr; }

Tensor contiguous_or_undefined(const Tensor& t) { return t.defined() ? compute::contiguous(t.detach()) : Tensor(); }

// One layer, one direction, as one autograd node with inputs (x, h0, c0, weight_ih, weight_hh,
// bias_ih, bias_hh, weight_hr) and outputs (y, h_n, c_n).
std::vector<Tensor> fused_layer(const RNNOptions& o, const CellWeights& w, const Tensor& x, const Tensor& h0,
                                const Tensor& c0, const Tensor& lengths_cpu, bool reverse, bool skip_input) {
  cpu::RnnLayerShape shape;
  shape.kind = kind_of(o.mode);
  shape.steps = x.size(0);
  shape.batch = x.size(1);
  shape.input_size = x.size(2);
  shape.hidden_size = o.hidden_size;
  shape.proj_size = o.proj_size;
  shape.reverse = reverse;
  shape.skip_input = skip_input;
  shape.forget_bias = o.forget_bias;
  shape.cell_clip = o.cell_clip;
  const DType dtype = x.dtype();
  const Device device = x.device();
  auto buffer = [dtype, device](int64_t n) { return make_contiguous_tensor({std::max<int64_t>(n, 0)}, dtype, device); };

  // Contiguous inputs and weights (views of the flat parameter buffer already are).
  Tensor xc = compute::contiguous(x.detach());
  Tensor h0c = compute::contiguous(h0.detach());
  Tensor c0c = o.mode == RNNMode::LSTM ? compute::contiguous(c0.detach()) : Tensor();
  Tensor w_ih = contiguous_or_undefined(w.weight_ih), w_hh = contiguous_or_undefined(w.weight_hh);
  Tensor b_ih = contiguous_or_undefined(w.bias_ih), b_hh = contiguous_or_undefined(w.bias_hh);
  Tensor w_hr = contiguous_or_undefined(w.weight_hr);
  // Forward's GEMMs read the weights transposed, stored so (one copy per call, not per step).
  auto transposed = [](const Tensor& t) { return t.defined() ? compute::contiguous(t.detach().t()) : Tensor(); };
  Tensor w_ih_t = transposed(w_ih), w_hh_t = transposed(w_hh), w_hr_t = transposed(w_hr);

  const cpu::RnnLayerSizes sizes = cpu::rnn_layer_sizes(shape);
  Tensor gates = buffer(sizes.gates), hidden = buffer(sizes.hidden), cell = buffer(sizes.cell);
  Tensor extra = buffer(sizes.extra), step = buffer(sizes.step);
  const int64_t rec = shape.recurrent_size();
  Tensor y = lengths_cpu.defined() ? make_contiguous_tensor({shape.steps, shape.batch, rec}, dtype, device)
                                   : hidden.as_strided_raw({shape.steps, shape.batch, rec},
                                                           contiguous_strides({shape.steps, shape.batch, rec}), 0);
  Tensor h_n = make_contiguous_tensor({shape.batch, rec}, dtype, device);
  Tensor c_n = o.mode == RNNMode::LSTM ? make_contiguous_tensor({shape.batch, o.hidden_size}, dtype, device) : Tensor();

  auto run_forward = [&](auto tag) {
    using T = decltype(tag);
    shape.lengths = lengths_cpu.defined() ? lengths_cpu.data<int64_t>() : nullptr;
    cpu::RnnLayerBuffers<T> bufs{mptr<T>(gates), mptr<T>(hidden), mptr<T>(cell), mptr<T>(extra), mptr<T>(step)};
    cpu::RnnLayerWeights<T> weights{ptr<T>(w_ih), ptr<T>(w_hh),   ptr<T>(b_ih),   ptr<T>(b_hh),
                                    ptr<T>(w_hr), ptr<T>(w_ih_t), ptr<T>(w_hh_t), ptr<T>(w_hr_t)};
    cpu::rnn_layer_forward<T>(mptr<T>(y), mptr<T>(h_n), mptr<T>(c_n), bufs, ptr<T>(xc), ptr<T>(h0c), ptr<T>(c0c),
                              weights, shape);
  };
  if (dtype == DType::Float32) {
    run_forward(float{});
  } else {
    run_forward(double{});
  }

  std::vector<Tensor> inputs{x, h0, c0, w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh, w.weight_hr};
  std::vector<Tensor> outputs{y, h_n};
  if (c_n.defined()) outputs.push_back(c_n);
  const bool lstm = o.mode == RNNMode::LSTM;
  return autograd::record("rnn_fused_layer", inputs, outputs, [=](const std::vector<Tensor>& g) mutable {
    const cpu::RnnBackwardSizes bs = cpu::rnn_backward_sizes(shape);
    auto zeros_like_or_none = [&](const Tensor& t) {
      return t.defined() ? zeros(t.shape(), TensorOptions{}.with_dtype(dtype).with_device(device)) : Tensor();
    };
    Tensor dx = make_contiguous_tensor(xc.shape(), dtype, device);
    Tensor dh0 = make_contiguous_tensor(h0c.shape(), dtype, device);
    Tensor dc0 = lstm ? make_contiguous_tensor(c0c.shape(), dtype, device) : Tensor();
    Tensor g_ih = zeros_like_or_none(w_ih), g_hh = zeros_like_or_none(w_hh);
    Tensor g_bih = zeros_like_or_none(b_ih), g_bhh = zeros_like_or_none(b_hh), g_hr = zeros_like_or_none(w_hr);
    Tensor dgates = buffer(bs.dgates), dgates_h = buffer(bs.dgates_h), dproj = buffer(bs.dproj);
    Tensor dh = buffer(bs.dh), dc = buffer(bs.dc), dr = buffer(bs.dr);
    Tensor dy = compute::contiguous(g[0]), dhn = compute::contiguous(g[1]);
    Tensor dcn = lstm ? compute::contiguous(g[2]) : Tensor();
    auto run_backward = [&](auto tag) {
      using T = decltype(tag);
      shape.lengths = lengths_cpu.defined() ? lengths_cpu.data<int64_t>() : nullptr;
      cpu::RnnLayerBuffers<T> saved{mptr<T>(gates), mptr<T>(hidden), mptr<T>(cell), mptr<T>(extra), mptr<T>(step)};
      cpu::RnnLayerWeights<T> weights{ptr<T>(w_ih), ptr<T>(w_hh), ptr<T>(b_ih), ptr<T>(b_hh), ptr<T>(w_hr)};
      cpu::RnnLayerGrads<T> grads{mptr<T>(g_ih), mptr<T>(g_hh), mptr<T>(g_bih), mptr<T>(g_bhh), mptr<T>(g_hr)};
      cpu::RnnBackwardWork<T> work{mptr<T>(dgates), mptr<T>(dgates_h), mptr<T>(dproj),
                                   mptr<T>(dh),     mptr<T>(dc),       mptr<T>(dr)};
      cpu::rnn_layer_backward<T>(mptr<T>(dx), mptr<T>(dh0), mptr<T>(dc0), grads, work, ptr<T>(dy), ptr<T>(dhn),
                                 ptr<T>(dcn), saved, ptr<T>(xc), ptr<T>(h0c), ptr<T>(c0c), weights, shape);
    };
    if (dtype == DType::Float32) {
      run_backward(float{});
    } else {
      run_backward(double{});
    }
    return std::vector<Tensor>{dx, dh0, dc0, g_ih, g_hh, g_bih, g_bhh, g_hr};
  });
}

RNNOutput forward_fused(const RNNOptions& o, const std::vector<CellWeights>& weights, const Tensor& x_tbi,
                        const Tensor& h0, const Tensor& c0, const Tensor& lengths, bool training, Generator* generator,
                        Dims /*dims*/) {
  const Tensor& lengths_cpu = lengths;  // on the host already (rnn_forward)
  return run_layers(
      o, x_tbi, h0, c0, training, generator,
      [&](int64_t index, bool reverse, const Tensor& input, const CellState& state) -> std::pair<Tensor, CellState> {
        const bool skip = index < o.num_directions() && o.skip_input();  // layer 0 only
        std::vector<Tensor> out = fused_layer(o, weights[index], input, state.h, state.c, lengths_cpu, reverse, skip);
        return {out[0], CellState{out[1], out.size() > 2 ? out[2] : Tensor()}};
      });
}

}  // namespace

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

bool fused_supports(const RNNOptions& o, Device device, std::string* why) {
  auto no = [&](const char* reason) {
    if (why) *why = reason;
    return false;
  };
  if (device.is_cuda()) return cudnn_supports(o, device, why);  // "fused" on a GPU is cuDNN's RNN
  if (o.use_peepholes) return no("peepholes run on the cell graph");
  if (o.proj_clip > 0.0) return no("proj_clip runs on the cell graph");
  if (o.activation != Activation::Tanh) return no("a non-tanh LSTM activation runs on the cell graph");
  if (o.gru_variant != GRUVariant::LinearBeforeReset) return no("the reset-before-linear GRU runs on the cell graph");
  return true;
}

RNNImpl resolve_impl(const RNNOptions& options, Device device, RNNImpl requested) {
  if (requested == RNNImpl::Cells) return RNNImpl::Cells;
  std::string why;
  const bool fused = fused_supports(options, device, &why);
  RECUR_CHECK(requested != RNNImpl::Fused || fused, "RNN: the fused implementation was requested but {}", why);
  return fused ? RNNImpl::Fused : RNNImpl::Cells;
}

RNNOutput rnn_forward(const RNNOptions& o, const std::vector<CellWeights>& weights, const Tensor& x, const Tensor& h0,
                      const Tensor& c0, const Tensor& lengths, bool training, Generator* generator, RNNImpl impl) {
  o.validate();
  const Dims dims = check_inputs(o, x, h0, c0, lengths);
  RECUR_CHECK(static_cast<int64_t>(weights.size()) == o.num_layers * o.num_directions(),
              "RNN: {} weight sets given, expected num_layers * num_directions = {}", weights.size(),
              o.num_layers * o.num_directions());
  Tensor x_tbi = o.batch_first ? transpose(x, 0, 1) : x;
  const RNNImpl resolved = resolve_impl(o, x.device(), impl);
  std::string why;
  RECUR_CHECK((x.dtype() != DType::Float16 && x.dtype() != DType::BFloat16) ||
                  (resolved == RNNImpl::Fused && cudnn_supports(o, x.device(), &why)),
              "RNN: {} runs only on cuDNN's RNN, which cannot run this layer{}{}", x.dtype(), why.empty() ? "" : ": ",
              why.empty() ? std::string(" (the cell graph was requested)") : why);
  const Tensor& lengths_cpu = dims.lengths_cpu;
  RNNOutput out =
      resolved == RNNImpl::Fused
          ? (x.device().is_cuda() ? rnn_forward_cudnn(o, weights, x_tbi, h0, c0, lengths_cpu, training, generator)
                                  : forward_fused(o, weights, x_tbi, h0, c0, lengths_cpu, training, generator, dims))
          : forward_cells(o, weights, x_tbi, h0, c0, lengths_cpu, training, generator, dims);
  if (o.batch_first) out.output = transpose(out.output, 0, 1);
  return out;
}

}  // namespace recur::nn
