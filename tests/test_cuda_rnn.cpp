// The cuDNN RNN (backends/cuda/cudnn_rnn.h, through nn::rnn_forward) against the CPU: forward outputs, final states and
// every gradient, for each mode and option set cuDNN supports. Without a GPU these tests call GTEST_SKIP() with the
// reason; the option checks run everywhere.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <iostream>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "backends/compute.h"
#include "nn/rnn.h"
#include "nn/rnn_functional.h"
#include "recur/config.h"

#if RECUR_HAVE_CUDA
#include "backends/caching_allocator.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cudnn_rnn.h"
#include "backends/cuda_info.h"
#endif

namespace recur::nn {
namespace {

using ::testing::HasSubstr;

#define RECUR_REQUIRE_GPU()                                                        \
  do {                                                                             \
    std::string why_;                                                              \
    if (cuda_device_count(&why_) == 0) GTEST_SKIP() << "no CUDA device: " << why_; \
  } while (0)

RNNOptions small_options(RNNMode mode, int64_t input_size, int64_t hidden_size) {
  RNNOptions o;
  o.mode = mode;
  o.input_size = input_size;
  o.hidden_size = hidden_size;
  return o;
}

#if RECUR_HAVE_CUDA
// cuDNN's answer to the supports query, asked without a device (the option checks need none).
bool cudnn_runs(const RNNOptions& options, std::string* why = nullptr) {
  static const std::unique_ptr<RnnKernels> cudnn = cuda::make_cudnn_rnn(0);
  return cudnn->supports(rnn_desc(options, DType::Float32), why);
}

TEST(CudaRnn, SupportsSaysWhatCudnnLacks) {
  RNNOptions options;
  options.input_size = 3;
  options.hidden_size = 4;
  std::string why;
  EXPECT_TRUE(cudnn_runs(options, &why)) << why;
  options.use_peepholes = true;
  EXPECT_FALSE(cudnn_runs(options, &why));
  EXPECT_THAT(why, HasSubstr("peepholes"));
  options.use_peepholes = false;
  options.mode = RNNMode::GRU;
  options.gru_variant = GRUVariant::ResetBeforeLinear;
  EXPECT_FALSE(cudnn_runs(options, &why));
  EXPECT_THAT(why, HasSubstr("reset"));
  // A GRU with skip input and biases: folding layer 0's input bias into the recurrent one is
  // wrong for the n gate, so it runs on cuDNN only where cuDNN gives layer 0 input biases of its
  // own (9.19 does); without a GPU that cannot be asked, so the answer is no.
  options.gru_variant = GRUVariant::LinearBeforeReset;
  options.input_size = options.hidden_size;
  options.input_mode = InputMode::SkipInput;
  if (!cudnn_runs(options, &why)) {
    EXPECT_THAT(why, HasSubstr("skip input"));
  } else {
    EXPECT_GT(cuda_device_count(), 0);
  }
  options.bias = false;
  EXPECT_TRUE(cudnn_runs(options, &why)) << why;
  // cell_clip: cuDNN's clip is not the clamp of c_t (seen on an H200, cuDNN 9.19).
  options = RNNOptions{};
  options.input_size = 3;
  options.hidden_size = 4;
  options.cell_clip = 0.3;
  EXPECT_FALSE(cudnn_runs(options, &why));
  EXPECT_THAT(why, HasSubstr("cell_clip"));
  // A projection to hidden_size units or more (TensorFlow's num_proj takes any size).
  options.cell_clip = 0.0;
  options.proj_size = 3;
  EXPECT_TRUE(cudnn_runs(options, &why)) << why;
  for (const int64_t proj : {4, 6}) {
    options.proj_size = proj;
    EXPECT_FALSE(cudnn_runs(options, &why));
    EXPECT_THAT(why, HasSubstr("fewer than hidden_size"));
  }
  // Variational dropout between a stack's layers (AWD-LSTM's dropout_h): cuDNN's dropout draws a
  // mask per element and step, so nn runs the layers one cuDNN call each, the masks between them.
  RNNOptions awd = small_options(RNNMode::LSTM, 3, 4);
  awd.variational_dropout = 0.3;
  EXPECT_TRUE(cudnn_runs(awd, &why)) << why;  // one layer: nothing between layers
  awd.num_layers = 2;
  EXPECT_FALSE(cudnn_runs(awd, &why));
  EXPECT_THAT(why, HasSubstr("variational_dropout"));
}
#else
// Without CUDA the GPU tests skip (RECUR_REQUIRE_GPU) before they ask.
bool cudnn_runs(const RNNOptions&, std::string* why = nullptr) {
  if (why != nullptr) *why = "recur was built without CUDA";
  return false;
}
#endif

// One supports query, two devices: for each option set, what the CPU picks (its fused layer,
// one layer and direction per call, or the cell graph) and what a GPU picks (cuDNN for the
// whole stack, or the cell graph). The CUDA column is cuDNN's own answer, asked without a
// device; with a GPU, the module's choice on it is checked against it.
TEST(RnnDispatch, EachDevicePicksItsImplementationFromTheSupportsQuery) {
  struct Row {
    std::string name;
    RNNOptions options;
    RNNImpl cpu, gpu;
  };
  const auto base = [](RNNMode mode) { return small_options(mode, 4, 4); };
  std::vector<Row> rows;
  rows.push_back({"lstm", base(RNNMode::LSTM), RNNImpl::Fused, RNNImpl::Fused});
  RNNOptions deep = base(RNNMode::GRU);
  deep.num_layers = 3;
  deep.direction = Direction::Bidirectional;
  deep.dropout = 0.5;
  rows.push_back({"gru_3_layers_bidirectional_dropout", deep, RNNImpl::Fused, RNNImpl::Fused});
  RNNOptions peep = base(RNNMode::LSTM);
  peep.use_peepholes = true;
  rows.push_back({"lstm_peepholes", peep, RNNImpl::Cells, RNNImpl::Cells});
  RNNOptions clip = base(RNNMode::LSTM);
  clip.cell_clip = 1.0;
  rows.push_back({"lstm_cell_clip", clip, RNNImpl::Fused, RNNImpl::Cells});
  RNNOptions proj_clip = base(RNNMode::LSTM);
  proj_clip.proj_size = 2;
  proj_clip.proj_clip = 1.0;
  rows.push_back({"lstm_proj_clip", proj_clip, RNNImpl::Cells, RNNImpl::Cells});
  RNNOptions relu = base(RNNMode::LSTM);
  relu.activation = Activation::Relu;
  rows.push_back({"lstm_relu_activation", relu, RNNImpl::Cells, RNNImpl::Cells});
  RNNOptions reset = base(RNNMode::GRU);
  reset.gru_variant = GRUVariant::ResetBeforeLinear;
  rows.push_back({"gru_reset_before_linear", reset, RNNImpl::Cells, RNNImpl::Cells});
  RNNOptions forget = base(RNNMode::LSTM);
  forget.forget_bias = 1.0;
  rows.push_back({"lstm_forget_bias", forget, RNNImpl::Fused, RNNImpl::Fused});
  RNNOptions forget_no_bias = forget;
  forget_no_bias.bias = false;
  rows.push_back({"lstm_forget_bias_no_bias", forget_no_bias, RNNImpl::Fused, RNNImpl::Cells});
  RNNOptions skip = base(RNNMode::LSTM);
  skip.input_mode = InputMode::SkipInput;
  rows.push_back({"lstm_skip_input", skip, RNNImpl::Fused, RNNImpl::Fused});
  // TensorFlow's num_proj of any size: the CPU's fused layer projects to any size, cuDNN only to
  // fewer units than hidden_size.
  for (const int64_t proj : {2, 4, 6}) {
    RNNOptions projected = base(RNNMode::LSTM);
    projected.proj_size = proj;
    rows.push_back({"lstm_proj_" + std::to_string(proj), projected, RNNImpl::Fused,
                    proj < projected.hidden_size ? RNNImpl::Fused : RNNImpl::Cells});
  }
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(resolve_impl(row.options, Device::cpu(), RNNImpl::Auto), row.cpu);
#if RECUR_HAVE_CUDA
    std::string why;
    EXPECT_EQ(cudnn_runs(row.options, &why) ? RNNImpl::Fused : RNNImpl::Cells, row.gpu) << why;
    if (cuda_device_count() > 0) {
      EXPECT_EQ(resolve_impl(row.options, Device::cuda(0), RNNImpl::Auto), row.gpu);
    }
#endif
  }
}

struct RnnCase {
  std::string name;
  RNNOptions options;
  bool with_state = true;
  bool with_lengths = false;
};

std::vector<RnnCase> rnn_cases() {
  const auto base = [](RNNMode mode) { return small_options(mode, 5, 6); };
  std::vector<RnnCase> cases;
  cases.push_back({"lstm", base(RNNMode::LSTM)});
  cases.push_back({"gru", base(RNNMode::GRU)});
  cases.push_back({"rnn_tanh", base(RNNMode::RNN_TANH)});
  cases.push_back({"rnn_relu", base(RNNMode::RNN_RELU)});
  RNNOptions deep = base(RNNMode::LSTM);
  deep.num_layers = 2;
  deep.direction = Direction::Bidirectional;
  cases.push_back({"lstm_2_layers_bidirectional", deep});
  RNNOptions gru_deep = base(RNNMode::GRU);
  gru_deep.num_layers = 3;
  cases.push_back({"gru_3_layers_no_state", gru_deep, false});
  RNNOptions projected = base(RNNMode::LSTM);
  projected.proj_size = 3;
  projected.num_layers = 2;
  cases.push_back({"lstm_projection", projected});
  RNNOptions forget = base(RNNMode::LSTM);
  forget.forget_bias = 1.0;
  cases.push_back({"lstm_forget_bias", forget});
  RNNOptions no_bias = base(RNNMode::GRU);
  no_bias.bias = false;
  cases.push_back({"gru_no_bias", no_bias});
  RNNOptions skip = base(RNNMode::LSTM);
  skip.input_size = 6;
  skip.input_mode = InputMode::SkipInput;
  cases.push_back({"lstm_skip_input", skip});
  RNNOptions gru_skip = base(RNNMode::GRU);
  gru_skip.input_size = 6;
  gru_skip.input_mode = InputMode::SkipInput;
  cases.push_back({"gru_skip_input", gru_skip});
  RNNOptions lengths = base(RNNMode::LSTM);
  lengths.direction = Direction::Bidirectional;
  cases.push_back({"lstm_bidirectional_lengths", lengths, true, true});
  return cases;
}

CellWeights on_device(const CellWeights& w, DType dtype, Device device) {
  CellWeights out;
  const auto move = [&](const Tensor& t) {
    if (!t.defined()) return Tensor();
    Tensor moved = compute::convert(t.detach(), dtype, device);
    moved.requires_grad_(true);
    return moved;
  };
  out.weight_ih = move(w.weight_ih);
  out.weight_hh = move(w.weight_hh);
  out.bias_ih = move(w.bias_ih);
  out.bias_hh = move(w.bias_hh);
  out.weight_hr = move(w.weight_hr);
  return out;
}

void expect_close(const Tensor& want, const Tensor& got, double tolerance, const std::string& what) {
  ASSERT_EQ(want.defined(), got.defined()) << what;
  if (!want.defined()) return;
  ASSERT_EQ(want.shape(), got.shape()) << what;
  const std::vector<double> a = want.to_vector<double>(), b = got.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_NEAR(a[i], b[i], tolerance * (1.0 + std::abs(a[i]))) << what << " element " << i;
  }
}

TEST(CudaRnn, CudnnMatchesTheCpuForwardAndBackward) {
  RECUR_REQUIRE_GPU();
  const Device gpu = Device::cuda(0);
  for (const RnnCase& c : rnn_cases()) {
    std::string why;
    if (!cudnn_runs(c.options, &why)) {
      std::cout << c.name << ": not on cuDNN here (" << why << ")\n";
      continue;
    }
    for (DType dtype : {DType::Float64, DType::Float32}) {
      SCOPED_TRACE(c.name + " " + std::string(dtype_name(dtype)));
      Generator generator(11);
      RNN rnn(c.options, &generator);
      const RNNOptions& o = rnn.options();
      const int64_t steps = 4, batch = 3, states = o.num_layers * o.num_directions();
      const TensorOptions cpu_like = TensorOptions{}.with_dtype(dtype);
      Tensor x = randn({steps, batch, o.input_size}, cpu_like, &generator);
      Tensor h0 = c.with_state ? randn({states, batch, o.output_hidden_size()}, cpu_like, &generator) : Tensor();
      Tensor c0 = c.with_state && o.mode == RNNMode::LSTM ? randn({states, batch, o.hidden_size}, cpu_like, &generator)
                                                          : Tensor();
      Tensor lengths =
          c.with_lengths ? from_vector<int64_t>({4, 2, 3}, {3}, TensorOptions{}.with_dtype(DType::Int64)) : Tensor();
      // The same leaves on both devices.
      std::vector<CellWeights> cpu_weights, gpu_weights;
      for (int64_t l = 0; l < o.num_layers; ++l) {
        for (int64_t d = 0; d < o.num_directions(); ++d) {
          cpu_weights.push_back(on_device(rnn.layer_weights(l, d), dtype, Device::cpu()));
          gpu_weights.push_back(on_device(rnn.layer_weights(l, d), dtype, gpu));
        }
      }
      const auto leaf = [](const Tensor& t, DType type, Device device) {
        if (!t.defined()) return Tensor();
        Tensor out = compute::convert(t, type, device);
        out.requires_grad_(true);
        return out;
      };
      Tensor x_cpu = leaf(x, dtype, Device::cpu()), x_gpu = leaf(x, dtype, gpu);
      Tensor h_cpu = leaf(h0, dtype, Device::cpu()), h_gpu = leaf(h0, dtype, gpu);
      Tensor c_cpu = leaf(c0, dtype, Device::cpu()), c_gpu = leaf(c0, dtype, gpu);
      const RNNOutput want = rnn_forward(o, cpu_weights, x_cpu, h_cpu, c_cpu, lengths, RnnPhase::Inference, nullptr);
      const Tensor lengths_gpu = lengths.defined() ? compute::convert(lengths, DType::Int64, gpu) : Tensor();
      const RNNOutput got =
          rnn_forward(o, gpu_weights, x_gpu, h_gpu, c_gpu, lengths_gpu, RnnPhase::Inference, nullptr, RNNImpl::Fused);
      const double tolerance = dtype == DType::Float64 ? 1e-9 : 2e-4;
      expect_close(want.output, got.output, tolerance, "output");
      expect_close(want.h_n, got.h_n, tolerance, "h_n");
      expect_close(want.c_n, got.c_n, tolerance, "c_n");

      // A loss that weighs every output differently.
      Generator weigh(99);
      const Tensor w_out = randn(want.output.shape(), cpu_like, &weigh),
                   w_h = randn(want.h_n.shape(), cpu_like, &weigh);
      const auto loss = [&](const RNNOutput& out, Device device) {
        Tensor total = sum(out.output * compute::convert(w_out, dtype, device)) +
                       sum(out.h_n * compute::convert(w_h, dtype, device));
        if (out.c_n.defined()) total = total + sum(out.c_n);
        return total;
      };
      loss(want, Device::cpu()).backward();
      loss(got, gpu).backward();
      expect_close(x_cpu.grad(), x_gpu.grad(), tolerance, "dx");
      expect_close(h_cpu.defined() ? h_cpu.grad() : Tensor(), h_gpu.defined() ? h_gpu.grad() : Tensor(), tolerance,
                   "dh0");
      expect_close(c_cpu.defined() ? c_cpu.grad() : Tensor(), c_gpu.defined() ? c_gpu.grad() : Tensor(), tolerance,
                   "dc0");
      for (size_t i = 0; i < cpu_weights.size(); ++i) {
        const CellWeights &a = cpu_weights[i], &b = gpu_weights[i];
        const auto grad_of = [](const Tensor& t) { return t.defined() ? t.grad() : Tensor(); };
        expect_close(grad_of(a.weight_ih), grad_of(b.weight_ih), tolerance, "d weight_ih " + std::to_string(i));
        expect_close(grad_of(a.weight_hh), grad_of(b.weight_hh), tolerance, "d weight_hh " + std::to_string(i));
        expect_close(grad_of(a.bias_ih), grad_of(b.bias_ih), tolerance, "d bias_ih " + std::to_string(i));
        expect_close(grad_of(a.bias_hh), grad_of(b.bias_hh), tolerance, "d bias_hh " + std::to_string(i));
        expect_close(grad_of(a.weight_hr), grad_of(b.weight_hr), tolerance, "d weight_hr " + std::to_string(i));
      }
    }
  }
}

// nn::RNN moved to the GPU: its flat buffer is cuDNN's weight space (cuDNN runs on it in place,
// and the weight gradients are views of cuDNN's gradient space), the results and gradients match
// the same module on the CPU, and moving back gives every weight bit for bit.
TEST(CudaRnn, ModuleOnTheGpuRunsCudnnOnItsOwnBuffer) {
  RECUR_REQUIRE_GPU();
  const Device gpu = Device::cuda(0);
  for (const RnnCase& c : rnn_cases()) {
    for (DType dtype : {DType::Float64, DType::Float32}) {
      SCOPED_TRACE(c.name + " " + std::string(dtype_name(dtype)));
      Generator generator(5);
      RNN cpu(c.options, &generator), gpu_rnn(c.options);
      cpu.to(dtype);
      gpu_rnn.to(dtype);
      gpu_rnn.load_state_dict(cpu.state_dict());
      gpu_rnn.to(gpu);
      // Where cuDNN cannot run a case the module runs the cell graph (RnnParity covers it on the GPU).
      EXPECT_EQ(gpu_rnn.implementation(), cudnn_runs(c.options) ? RNNImpl::Fused : RNNImpl::Cells);
      if (gpu_rnn.implementation() != RNNImpl::Fused) continue;
      const Tensor flat = gpu_rnn.flat_parameters();
      EXPECT_GE(gpu_rnn.params_size(), gpu_rnn.count_params());
      // The documented rule: cuDNN's layout unless forget_bias is set (it lives in the packed
      // copy); with skip input, only when cuDNN keeps layer 0's input biases.
      const bool has_layout = fused_weight_layout(gpu_rnn.options(), gpu, dtype).has_value();
      if (c.options.skip_input() && c.options.bias) {
        std::cout << c.name << ": cuDNN " << (has_layout ? "keeps" : "drops") << " layer 0's input biases\n";
      } else {
        EXPECT_EQ(has_layout, c.options.forget_bias == 0.0) << "cuDNN's weight space layout";
      }
      for (const auto& [name, param] : gpu_rnn.named_parameters()) EXPECT_EQ(param.storage(), flat.storage()) << name;

      const RNNOptions& o = cpu.options();
      const Tensor x = randn({4, 3, o.input_size}, TensorOptions{}.with_dtype(dtype), &generator);
      const Tensor lengths =
          c.with_lengths ? from_vector<int64_t>({4, 2, 3}, {3}, TensorOptions{}.with_dtype(DType::Int64)) : Tensor();
      const auto [y_cpu, s_cpu] = cpu.forward(x, {}, lengths);
      const auto [y_gpu, s_gpu] = gpu_rnn.forward(x.to(gpu), {}, lengths.defined() ? lengths.to(gpu) : Tensor());
      const double tolerance = dtype == DType::Float64 ? 1e-9 : 2e-4;
      expect_close(y_cpu, y_gpu, tolerance, "output");
      expect_close(s_cpu.h, s_gpu.h, tolerance, "h_n");
      sum(y_cpu * y_cpu).backward();
      sum(y_gpu * y_gpu).backward();
      const auto gpu_params = gpu_rnn.named_parameters();
      for (const auto& [name, param] : cpu.named_parameters()) {
        for (const auto& [gpu_name, gpu_param] : gpu_params) {
          if (gpu_name == name) expect_close(param.grad(), gpu_param.grad(), tolerance, "d " + name);
        }
      }

      gpu_rnn.to(Device::cpu());
      const nn::StateDict back = gpu_rnn.state_dict(), original = cpu.state_dict();
      for (const auto& [name, tensor] : original) {
        EXPECT_EQ(back.at(name).to_vector<double>(), tensor.to_vector<double>()) << name;
      }
    }
  }
}

// float16 and bfloat16 run only through cuDNN, and only when opted in.
TEST(CudaRnn, ReducedPrecisionIsGpuOnly) {
  RNNOptions o;
  o.input_size = 3;
  o.hidden_size = 4;
  RNN rnn(o);
  rnn.to(DType::Float16);
  const Tensor x = zeros({2, 2, 3}, TensorOptions{}.with_dtype(DType::Float16));
  try {
    rnn.forward(x);
    ADD_FAILURE() << "a float16 RNN ran on the CPU";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("float16 and bfloat16 on a GPU, through cuDNN"));
  }
}

#if RECUR_HAVE_CUDA
// With the opt-in, a float16 or bfloat16 LSTM on cuDNN (float32 accumulation) follows the
// float32 CPU module to the precision of its storage, forward and backward.
TEST(CudaRnn, ReducedPrecisionMatchesFloat32WithinItsPrecision) {
  RECUR_REQUIRE_GPU();
  const Device gpu = Device::cuda(0);
  CudaBackend& backend = cuda_backend(0);
  RNNOptions o;
  o.input_size = 16;
  o.hidden_size = 32;
  o.num_layers = 2;
  for (DType dtype : {DType::Float16, DType::BFloat16}) {
    SCOPED_TRACE(std::string(dtype_name(dtype)));
    if (dtype == DType::BFloat16 && cudnn_version_runtime() < 91300) {
      std::cout << "bfloat16 not checked: cuDNN " << cudnn_version_runtime() << " is older than 9.13\n";
      continue;
    }
    Generator generator(3);
    RNN cpu(o, &generator), reduced(o);
    reduced.load_state_dict(cpu.state_dict());
    reduced.to(dtype);
    reduced.to(gpu);
    const Tensor x = randn({6, 4, 16}, TensorOptions{}, &generator);
    const Tensor x_reduced = x.to(dtype).to(gpu);
    backend.set_allow_reduced_precision(false);
    EXPECT_THROW(reduced.forward(x_reduced), Error);
    backend.set_allow_reduced_precision(true);
    const auto [y_cpu, s_cpu] = cpu.forward(x.to(dtype).to(DType::Float32));  // the same rounded input
    const auto [y_gpu, s_gpu] = reduced.forward(x_reduced);
    const double tolerance = dtype == DType::Float16 ? 1e-2 : 4e-2;
    expect_close(y_cpu, y_gpu.to(DType::Float32), tolerance, "output");
    sum(y_cpu).backward();
    sum(y_gpu.to(DType::Float32)).backward();
    const auto gpu_params = reduced.named_parameters();
    for (const auto& [name, param] : cpu.named_parameters()) {
      for (const auto& [gpu_name, gpu_param] : gpu_params) {
        if (gpu_name != name) continue;
        ASSERT_TRUE(gpu_param.grad().defined()) << name;
        EXPECT_EQ(gpu_param.grad().dtype(), dtype) << name;
        expect_close(param.grad(), gpu_param.grad().to(DType::Float32), 10 * tolerance, "d " + name);
      }
    }
    // Gradients accumulate in the reduced dtype too: an output used twice sums its gradients in
    // the engine, and a second backward without zeroing adds into .grad (2 + 1 = 3 times).
    std::vector<Tensor> first;
    for (const auto& [name, param] : gpu_params) first.push_back(param.grad().to(DType::Float32));
    const auto [y_again, s_again] = reduced.forward(x_reduced);
    sum(y_again.to(DType::Float32) + y_again.to(DType::Float32)).backward();  // y_again used twice
    size_t k = 0;
    for (const auto& [name, param] : gpu_params) {
      expect_close(first[k] * 3.0, param.grad().to(DType::Float32), 10 * tolerance, "accumulated d " + name);
      ++k;
    }
    backend.set_allow_reduced_precision(false);
  }
}
#endif

TEST(CudaRnn, InferenceForwardRecordsNoGraph) {
  RECUR_REQUIRE_GPU();
  RNNOptions o;
  o.input_size = 3;
  o.hidden_size = 4;
  Generator generator(1);
  RNN rnn(o, &generator);
  std::vector<CellWeights> weights{rnn.layer_weights(0, 0)};
  for (CellWeights& w : weights) {
    for (Tensor* t : {&w.weight_ih, &w.weight_hh, &w.bias_ih, &w.bias_hh})
      *t = compute::convert(*t, DType::Float32, Device::cuda(0));
  }
  const Tensor x = randn({2, 2, 3}, TensorOptions{}.with_device(Device::cuda(0)), &generator);
  const RNNOutput out =
      rnn_forward(o, weights, x, Tensor(), Tensor(), Tensor(), RnnPhase::Inference, nullptr, RNNImpl::Fused);
  EXPECT_FALSE(out.output.requires_grad());
  EXPECT_THROW(sum(out.output).backward(), Error);
}

#if RECUR_HAVE_CUDA
// A recorded forward whose backward never runs (an evaluation with parameters that require
// grad) must give back every buffer once its outputs go: the node must not keep its own
// outputs alive.
TEST(CudaRnn, ForwardWithoutBackwardFreesItsBuffers) {
  RECUR_REQUIRE_GPU();
  RNNOptions o;
  o.input_size = 3;
  o.hidden_size = 4;
  Generator generator(2);
  RNN rnn(o, &generator);
  std::vector<CellWeights> weights{rnn.layer_weights(0, 0)};
  for (CellWeights& w : weights) {
    for (Tensor* t : {&w.weight_ih, &w.weight_hh, &w.bias_ih, &w.bias_hh}) {
      *t = compute::convert(*t, DType::Float32, Device::cuda(0));
      t->requires_grad_(true);
    }
  }
  const Tensor x = randn({5, 2, 3}, TensorOptions{}.with_device(Device::cuda(0)), &generator);
  CudaBackend& backend = cuda_backend(0);
  // A first forward builds and caches the plan (descriptors, the device copy of the sequence
  // lengths): that memory is the cache's, not a leak of the second forward.
  rnn_forward(o, weights, x, Tensor(), Tensor(), Tensor(), RnnPhase::Inference, nullptr, RNNImpl::Fused);
  backend.synchronize();
  const size_t before = backend.allocator_stats().in_use_bytes;
  {
    const RNNOutput out =
        rnn_forward(o, weights, x, Tensor(), Tensor(), Tensor(), RnnPhase::Inference, nullptr, RNNImpl::Fused);
    EXPECT_TRUE(out.output.requires_grad());
  }
  EXPECT_EQ(backend.allocator_stats().in_use_bytes, before);
}
#endif

}  // namespace
}  // namespace recur::nn
