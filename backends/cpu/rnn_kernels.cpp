// The CPU's fused RNN (backends/rnn.h): one layer and one direction per call, the fused layer
// of backends/cpu/rnn_layer.h (forward and its hand-written backward). The stack (directions
// concatenated, dropout between layers) is built by nn::rnn_forward from such calls.
#include <algorithm>

#include "backends/compute.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/rnn_layer.h"

namespace recur {
namespace {

cpu::RnnCellKind kind_of(RnnCell cell) {
  switch (cell) {
    case RnnCell::LSTM: return cpu::RnnCellKind::LSTM;
    case RnnCell::GRU: return cpu::RnnCellKind::GRU;
    case RnnCell::RNN_TANH: return cpu::RnnCellKind::RNN_TANH;
    case RnnCell::RNN_RELU: return cpu::RnnCellKind::RNN_RELU;
  }
  return cpu::RnnCellKind::LSTM;
}

template <typename T> const T* ptr(const Tensor& t) {
  return t.defined() ? static_cast<const T*>(t.raw_data()) : nullptr;
}
template <typename T> T* mptr(const Tensor& t) { return t.defined() ? static_cast<T*>(t.raw_data()) : nullptr; }

Tensor contiguous_or_undefined(const Tensor& t) { return t.defined() ? compute::contiguous(t.detach()) : Tensor(); }

// Everything backward reads: the layer's shape, its contiguous inputs and weights, the buffers
// forward filled, and (after backward_data) the weight gradients.
struct CpuRnnSaved final : RnnSaved {
  cpu::RnnLayerShape shape;
  bool lstm = false;
  Tensor lengths;  // int64 [B] on the host, or undefined
  Tensor x, h0, c0;
  Tensor w_ih, w_hh, b_ih, b_hh, w_hr;
  Tensor gates, hidden, cell, extra, step;
  RnnWeights grads;
  bool backward_done = false;
};

class CpuRnnKernels final : public RnnKernels {
 public:
  bool supports(const RnnDesc& d, std::string* why) override {
    auto no = [&](const char* reason) {
      if (why) *why = reason;
      return false;
    };
    if (d.dtype != DType::Float32 && d.dtype != DType::Float64) return no("the CPU computes in float32 and float64");
    if (d.num_layers != 1 || d.bidirectional) return no("the CPU runs one layer and one direction per call");
    if (d.peepholes) return no("peepholes run on the cell graph");
    if (d.proj_clip > 0.0) return no("proj_clip runs on the cell graph");
    if (d.relu_activation) return no("a non-tanh LSTM activation runs on the cell graph");
    if (d.gru_reset_before_linear) return no("the reset-before-linear GRU runs on the cell graph");
    return true;
  }

  RnnForward forward(const RnnDesc& d, const std::vector<RnnWeights>& weights, const Tensor& x, const Tensor& h0,
                     const Tensor& c0, const Tensor& lengths, RnnPhase /*phase*/, KeepForBackward keep,
                     Generator* /*generator*/) override {
    std::string why;
    RECUR_CHECK(supports(d, &why), "RNN: the CPU's fused layer cannot run this: {}", why);
    RECUR_CHECK(weights.size() == 1, "RNN: the CPU's fused layer takes one weight set, got {}", weights.size());
    auto saved = std::make_shared<CpuRnnSaved>();
    cpu::RnnLayerShape& shape = saved->shape;
    shape.kind = kind_of(d.cell);
    shape.steps = x.size(0);
    shape.batch = x.size(1);
    shape.input_size = x.size(2);
    shape.hidden_size = d.hidden_size;
    shape.proj_size = d.proj_size;
    shape.reverse = d.reverse;
    shape.skip_input = d.skip_input;
    shape.forget_bias = d.forget_bias;
    shape.cell_clip = d.cell_clip;
    saved->lstm = d.cell == RnnCell::LSTM;
    const DType dtype = x.dtype();
    const Device device = x.device();
    const int64_t rec = shape.recurrent_size();
    const TensorOptions like = TensorOptions{}.with_dtype(dtype).with_device(device);
    auto buffer = [dtype, device](int64_t n) {
      return make_contiguous_tensor({std::max<int64_t>(n, 0)}, dtype, device);
    };

    // Contiguous inputs and weights (views of the flat parameter buffer already are).
    saved->lengths = lengths;
    saved->x = compute::contiguous(x.detach());
    saved->h0 = h0.defined() ? compute::contiguous(h0.detach()) : zeros({shape.batch, rec}, like);
    if (saved->lstm)
      saved->c0 = c0.defined() ? compute::contiguous(c0.detach()) : zeros({shape.batch, d.hidden_size}, like);
    const RnnWeights& w = weights[0];
    saved->w_ih = contiguous_or_undefined(w.weight_ih);
    saved->w_hh = contiguous_or_undefined(w.weight_hh);
    saved->b_ih = contiguous_or_undefined(w.bias_ih);
    saved->b_hh = contiguous_or_undefined(w.bias_hh);
    saved->w_hr = contiguous_or_undefined(w.weight_hr);
    // Forward's GEMMs read the weights transposed, stored so (one copy per call, not per step).
    auto transposed = [](const Tensor& t) {
      return t.defined() ? compute::contiguous(t.as_strided_raw({t.shape()[1], t.shape()[0]},
                                                                {t.strides()[1], t.strides()[0]}, t.offset()))
                         : Tensor();
    };
    const Tensor w_ih_t = transposed(saved->w_ih), w_hh_t = transposed(saved->w_hh), w_hr_t = transposed(saved->w_hr);

    const cpu::RnnLayerSizes sizes = cpu::rnn_layer_sizes(shape);
    saved->gates = buffer(sizes.gates);
    saved->hidden = buffer(sizes.hidden);
    saved->cell = buffer(sizes.cell);
    saved->extra = buffer(sizes.extra);
    saved->step = buffer(sizes.step);
    RnnForward out;
    out.y = lengths.defined() ? make_contiguous_tensor({shape.steps, shape.batch, rec}, dtype, device)
                              : saved->hidden.as_strided_raw({shape.steps, shape.batch, rec},
                                                             contiguous_strides({shape.steps, shape.batch, rec}), 0);
    out.h_n = make_contiguous_tensor({1, shape.batch, rec}, dtype, device);
    if (saved->lstm) out.c_n = make_contiguous_tensor({1, shape.batch, d.hidden_size}, dtype, device);

    auto run = [&](auto tag) {
      using T = decltype(tag);
      shape.lengths = lengths.defined() ? lengths.data<int64_t>() : nullptr;
      const CpuRnnSaved& s = *saved;
      cpu::RnnLayerBuffers<T> bufs{mptr<T>(s.gates), mptr<T>(s.hidden), mptr<T>(s.cell), mptr<T>(s.extra),
                                   mptr<T>(s.step)};
      cpu::RnnLayerWeights<T> ws{ptr<T>(s.w_ih), ptr<T>(s.w_hh), ptr<T>(s.b_ih), ptr<T>(s.b_hh),
                                 ptr<T>(s.w_hr), ptr<T>(w_ih_t), ptr<T>(w_hh_t), ptr<T>(w_hr_t)};
      cpu::rnn_layer_forward<T>(mptr<T>(out.y), mptr<T>(out.h_n), mptr<T>(out.c_n), bufs, ptr<T>(s.x), ptr<T>(s.h0),
                                ptr<T>(s.c0), ws, shape);
    };
    if (dtype == DType::Float32) {
      run(float{});
    } else {
      run(double{});
    }
    if (keep == KeepForBackward::Yes) out.saved = saved;
    return out;
  }

  RnnDataGrads backward_data(RnnSaved& base, const Tensor& dy_in, const Tensor& dh_n, const Tensor& dc_n) override {
    auto& s = static_cast<CpuRnnSaved&>(base);
    RECUR_CHECK(!s.backward_done, "RNN: the fused layer's backward runs once per forward");
    s.backward_done = true;
    const DType dtype = s.x.dtype();
    const Device device = s.x.device();
    const TensorOptions like = TensorOptions{}.with_dtype(dtype).with_device(device);
    const cpu::RnnBackwardSizes bs = cpu::rnn_backward_sizes(s.shape);
    auto buffer = [dtype, device](int64_t n) {
      return make_contiguous_tensor({std::max<int64_t>(n, 0)}, dtype, device);
    };
    auto zeros_like_or_none = [&](const Tensor& t) { return t.defined() ? zeros(t.shape(), like) : Tensor(); };
    const int64_t rec = s.shape.recurrent_size();
    RnnDataGrads out;
    out.dx = make_contiguous_tensor(s.x.shape(), dtype, device);
    out.dh0 = make_contiguous_tensor({1, s.shape.batch, rec}, dtype, device);
    if (s.lstm) out.dc0 = make_contiguous_tensor({1, s.shape.batch, s.shape.hidden_size}, dtype, device);
    s.grads = {zeros_like_or_none(s.w_ih), zeros_like_or_none(s.w_hh), zeros_like_or_none(s.b_ih),
               zeros_like_or_none(s.b_hh), zeros_like_or_none(s.w_hr)};
    Tensor dgates = buffer(bs.dgates), dgates_h = buffer(bs.dgates_h), dproj = buffer(bs.dproj);
    Tensor dh = buffer(bs.dh), dc = buffer(bs.dc), dr = buffer(bs.dr);
    const Tensor dy = dy_in.defined() ? compute::contiguous(dy_in) : zeros({s.shape.steps, s.shape.batch, rec}, like);
    const Tensor dhn = dh_n.defined() ? compute::contiguous(dh_n) : zeros({s.shape.batch, rec}, like);
    const Tensor dcn = !s.lstm          ? Tensor()
                       : dc_n.defined() ? compute::contiguous(dc_n)
                                        : zeros({s.shape.batch, s.shape.hidden_size}, like);
    auto run = [&](auto tag) {
      using T = decltype(tag);
      cpu::RnnLayerShape shape = s.shape;
      shape.lengths = s.lengths.defined() ? s.lengths.data<int64_t>() : nullptr;
      cpu::RnnLayerBuffers<T> saved{mptr<T>(s.gates), mptr<T>(s.hidden), mptr<T>(s.cell), mptr<T>(s.extra),
                                    mptr<T>(s.step)};
      cpu::RnnLayerWeights<T> weights{ptr<T>(s.w_ih), ptr<T>(s.w_hh), ptr<T>(s.b_ih), ptr<T>(s.b_hh), ptr<T>(s.w_hr)};
      cpu::RnnLayerGrads<T> grads{mptr<T>(s.grads.weight_ih), mptr<T>(s.grads.weight_hh), mptr<T>(s.grads.bias_ih),
                                  mptr<T>(s.grads.bias_hh), mptr<T>(s.grads.weight_hr)};
      cpu::RnnBackwardWork<T> work{mptr<T>(dgates), mptr<T>(dgates_h), mptr<T>(dproj),
                                   mptr<T>(dh),     mptr<T>(dc),       mptr<T>(dr)};
      cpu::rnn_layer_backward<T>(mptr<T>(out.dx), mptr<T>(out.dh0), mptr<T>(out.dc0), grads, work, ptr<T>(dy),
                                 ptr<T>(dhn), ptr<T>(dcn), saved, ptr<T>(s.x), ptr<T>(s.h0), ptr<T>(s.c0), weights,
                                 shape);
    };
    if (dtype == DType::Float32) {
      run(float{});
    } else {
      run(double{});
    }
    return out;
  }

  // The fused layer's backward walk computes the weight gradients with the data gradients.
  std::vector<RnnWeights> backward_weights(RnnSaved& base) override {
    auto& s = static_cast<CpuRnnSaved&>(base);
    RECUR_CHECK(s.backward_done, "RNN: backward_weights before backward_data");
    return {s.grads};
  }
};

}  // namespace

RnnKernels* CpuBackend::rnn() {
  static CpuRnnKernels kernels;
  return &kernels;
}

}  // namespace recur
