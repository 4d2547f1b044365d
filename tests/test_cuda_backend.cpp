// Every backend op on the CPU and on CUDA, from one table: each row names an op and runs it
// through compute:: (or the backend) on inputs already on the device; the same random inputs
// go to both devices and the results are compared with atol + rtol * |ref|, in float32 and
// float64. Adding an op means adding one row. Plus: the random streams match the CPU's, GEMM
// layouts, transfers and the allocator on a real device. Without a GPU every test here calls
// GTEST_SKIP() with the reason.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/compute.h"
#include "core/tensor.h"
#include "recur/config.h"

#if RECUR_HAVE_CUDA
#include "backends/cuda/caching_allocator.h"
#include "backends/cuda/cuda_backend.h"
#endif

namespace recur {
namespace {

#define RECUR_REQUIRE_GPU()                                                        \
  do {                                                                             \
    std::string why_;                                                              \
    if (cuda_device_count(&why_) == 0) GTEST_SKIP() << "no CUDA device: " << why_; \
  } while (0)

const Device kGpu = Device::cuda(0);

// How a row's input is drawn.
enum class Draw { Normal, Positive, Index };

struct Input {
  Shape shape;
  Draw draw = Draw::Normal;
  int64_t index_limit = 0;  // Draw::Index: values in [0, index_limit)
};

struct OpRow {
  std::string name;
  std::vector<Input> inputs;
  std::function<Tensor(const std::vector<Tensor>&)> run;
  double tolerance_scale = 1.0;  // long sums: the CPU and the GPU add in different orders
};

using compute::binary;
using compute::reduce;
using compute::unary;

Tensor transposed(const Tensor& t) {  // a non-contiguous view of a 2-D tensor
  return t.as_strided_raw({t.shape()[1], t.shape()[0]}, {t.strides()[1], t.strides()[0]}, t.offset());
}

std::vector<OpRow> op_table() {
  std::vector<OpRow> rows;
  const Input matrix{{6, 7}};
  const auto add_unary = [&](const std::string& name, UnaryOp op, UnaryParams params, Draw draw) {
    rows.push_back({name, {{{6, 7}, draw}}, [=](const std::vector<Tensor>& x) { return unary(op, x[0], params); }});
  };
  add_unary("neg", UnaryOp::Neg, {}, Draw::Normal);
  add_unary("exp", UnaryOp::Exp, {}, Draw::Normal);
  add_unary("log", UnaryOp::Log, {}, Draw::Positive);
  add_unary("tanh", UnaryOp::Tanh, {}, Draw::Normal);
  add_unary("sigmoid", UnaryOp::Sigmoid, {}, Draw::Normal);
  add_unary("relu", UnaryOp::Relu, {}, Draw::Normal);
  add_unary("sqrt", UnaryOp::Sqrt, {}, Draw::Positive);
  add_unary("abs", UnaryOp::Abs, {}, Draw::Normal);
  add_unary("sign", UnaryOp::Sign, {}, Draw::Normal);
  add_unary("square", UnaryOp::Square, {}, Draw::Normal);
  add_unary("reciprocal", UnaryOp::Reciprocal, {}, Draw::Positive);
  add_unary("pow_scalar", UnaryOp::PowScalar, {1.7, 0.0}, Draw::Positive);
  add_unary("clamp", UnaryOp::Clamp, {-0.5, 0.7}, Draw::Normal);
  add_unary("affine", UnaryOp::Affine, {2.5, -1.0}, Draw::Normal);
  add_unary("gt_scalar", UnaryOp::GtScalar, {0.1, 0.0}, Draw::Normal);
  add_unary("in_range", UnaryOp::InRange, {-0.5, 0.5}, Draw::Normal);
  add_unary("is_finite", UnaryOp::IsFinite, {}, Draw::Normal);
  rows.push_back({"exp_of_transposed_view", {matrix}, [](const std::vector<Tensor>& x) {
                    return unary(UnaryOp::Exp, transposed(x[0]));
                  }});

  const auto add_binary = [&](const std::string& name, BinaryOp op, Draw draw) {
    rows.push_back({name, {{{4, 1, 5}, draw}, {{3, 1}, draw}}, [=](const std::vector<Tensor>& x) {
                      return binary(op, x[0], x[1]);
                    }});
  };
  add_binary("add_broadcast", BinaryOp::Add, Draw::Normal);
  add_binary("sub_broadcast", BinaryOp::Sub, Draw::Normal);
  add_binary("mul_broadcast", BinaryOp::Mul, Draw::Normal);
  add_binary("div_broadcast", BinaryOp::Div, Draw::Positive);
  add_binary("pow_broadcast", BinaryOp::Pow, Draw::Positive);
  add_binary("maximum_broadcast", BinaryOp::Maximum, Draw::Normal);
  add_binary("minimum_broadcast", BinaryOp::Minimum, Draw::Normal);
  add_binary("eq_broadcast", BinaryOp::Eq, Draw::Normal);
  add_binary("gt_broadcast", BinaryOp::Gt, Draw::Normal);
  add_binary("ge_broadcast", BinaryOp::Ge, Draw::Normal);
  add_binary("lt_broadcast", BinaryOp::Lt, Draw::Normal);
  add_binary("le_broadcast", BinaryOp::Le, Draw::Normal);
  rows.push_back({"where_broadcast", {{{4, 5}}, {{4, 5}}, {{5}}}, [](const std::vector<Tensor>& x) {
                    return compute::where(unary(UnaryOp::GtScalar, x[0], {0.0, 0.0}), x[1], x[2]);
                  }});
  rows.push_back({"axpby", {matrix, matrix}, [](const std::vector<Tensor>& x) {
                    Tensor out = compute::contiguous(x[1]);
                    backend_of(out).axpby(out, 0.75, x[0], -1.5);
                    return out;
                  }});

  const auto add_reduce = [&](const std::string& name, ReduceOp op, std::vector<int64_t> axes) {
    rows.push_back({name, {{{4, 5, 6}}}, [=](const std::vector<Tensor>& x) { return reduce(op, x[0], axes, false); }});
  };
  add_reduce("sum_all", ReduceOp::Sum, {});
  add_reduce("sum_axis0", ReduceOp::Sum, {0});
  add_reduce("sum_axis2", ReduceOp::Sum, {2});
  add_reduce("sum_axes02", ReduceOp::Sum, {0, 2});
  add_reduce("mean_axis1", ReduceOp::Mean, {1});
  add_reduce("max_axis2", ReduceOp::Max, {2});
  add_reduce("min_axes01", ReduceOp::Min, {0, 1});
  rows.push_back({"sum_long_rows",
                  {{{3, 5000}}},
                  [](const std::vector<Tensor>& x) { return reduce(ReduceOp::Sum, x[0], {1}, true); },
                  10.0});
  rows.push_back({"sum_columns_of_tall",
                  {{{3000, 40}}},
                  [](const std::vector<Tensor>& x) { return reduce(ReduceOp::Sum, x[0], {0}, false); },
                  10.0});
  rows.push_back({"sum_to_bias", {{{8, 3, 5}}}, [](const std::vector<Tensor>& x) {
                    return compute::sum_to(x[0], {1, 5});
                  }});
  rows.push_back({"sum_of_transposed_view", {matrix}, [](const std::vector<Tensor>& x) {
                    return reduce(ReduceOp::Sum, transposed(x[0]), {1}, false);
                  }});
  rows.push_back(
      {"argmax_axis1", {{{5, 9, 3}}}, [](const std::vector<Tensor>& x) { return compute::argmax(x[0], 1, false); }});

  for (int64_t axis : {-1, 0}) {
    for (bool log : {false, true}) {
      const std::string name = std::string(log ? "log_softmax" : "softmax") + (axis == 0 ? "_axis0" : "_last");
      rows.push_back(
          {name, {{{7, 300}}}, [=](const std::vector<Tensor>& x) { return compute::softmax(x[0], axis, log); }});
      rows.push_back({name + "_backward", {{{7, 300}}, {{7, 300}}}, [=](const std::vector<Tensor>& x) {
                        return compute::softmax_backward(compute::softmax(x[0], axis, log), x[1], axis, log);
                      }});
    }
  }

  rows.push_back({"index_select_rows", {{{9, 6}}, {{13}, Draw::Index, 9}}, [](const std::vector<Tensor>& x) {
                    return compute::index_select(x[0], 0, x[1]);
                  }});
  rows.push_back({"index_select_axis1", {{{4, 9, 3}}, {{5}, Draw::Index, 9}}, [](const std::vector<Tensor>& x) {
                    return compute::index_select(x[0], 1, x[1]);
                  }});
  rows.push_back({"index_add_repeated", {{{40, 6}}, {{40}, Draw::Index, 5}}, [](const std::vector<Tensor>& x) {
                    return compute::index_add({5, 6}, 0, x[1], x[0]);
                  }});

  rows.push_back(
      {"matmul", {{{5, 7}}, {{7, 3}}}, [](const std::vector<Tensor>& x) { return compute::matmul(x[0], x[1]); }});
  rows.push_back({"matmul_transposed", {{{7, 5}}, {{3, 7}}}, [](const std::vector<Tensor>& x) {
                    return compute::matmul(x[0], x[1], Transpose::Yes, Transpose::Yes);
                  }});
  rows.push_back({"matmul_of_views", {{{7, 5}}, {{7, 3}}}, [](const std::vector<Tensor>& x) {
                    return compute::matmul(transposed(x[0]), x[1]);
                  }});
  rows.push_back({"matmul_batched", {{{4, 5, 7}}, {{4, 7, 3}}}, [](const std::vector<Tensor>& x) {
                    return compute::matmul(x[0], x[1]);
                  }});
  rows.push_back({"matmul_batch_broadcast", {{{4, 5, 7}}, {{1, 3, 7}}}, [](const std::vector<Tensor>& x) {
                    return compute::matmul(x[0], x[1], Transpose::No, Transpose::Yes);
                  }});
  rows.push_back({"gemm_accumulate", {{{5, 7}}, {{7, 3}}, {{5, 3}}}, [](const std::vector<Tensor>& x) {
                    Tensor c = compute::contiguous(x[2]);
                    backend_of(c).gemm(c, x[0], Transpose::No, x[1], Transpose::No, 0.5, 2.0);
                    return c;
                  }});

  rows.push_back({"concat_axis1", {{{3, 2}}, {{3, 5}}}, [](const std::vector<Tensor>& x) {
                    return compute::concat({x[0], x[1]}, 1);
                  }});
  rows.push_back({"contiguous_of_transposed", {matrix}, [](const std::vector<Tensor>& x) {
                    return compute::contiguous(transposed(x[0]));
                  }});
  rows.push_back({"through_float16", {matrix}, [](const std::vector<Tensor>& x) {
                    return compute::convert(compute::convert(x[0], DType::Float16, x[0].device()), x[0].dtype(),
                                            x[0].device());
                  }});
  rows.push_back({"through_bfloat16", {matrix}, [](const std::vector<Tensor>& x) {
                    return compute::convert(compute::convert(x[0], DType::BFloat16, x[0].device()), x[0].dtype(),
                                            x[0].device());
                  }});
  rows.push_back({"to_int64", {matrix}, [](const std::vector<Tensor>& x) {
                    return compute::convert(unary(UnaryOp::Affine, x[0], {10.0, 0.0}), DType::Int64, x[0].device());
                  }});
  rows.push_back({"fill_strided_view", {matrix}, [](const std::vector<Tensor>& x) {
                    Tensor out = compute::contiguous(x[0]);
                    Tensor view = transposed(out);
                    view.as_strided_raw({7, 3}, {view.strides()[0], view.strides()[1] * 2}, view.offset()).fill_(4.5);
                    return out;
                  }});

  // Fused ops: cross entropy (rows 3 are ignored), per-tensor norms, and every optimizer's
  // multi-tensor update over two parameters (one spanning two chunks of the GPU kernel).
  for (double eps : {0.0, 0.1}) {
    const std::string suffix = eps > 0.0 ? "_smoothed" : "";
    const Input logits{{37, 50}}, target{{37}, Draw::Index, 50};
    rows.push_back({"cross_entropy_loss" + suffix, {logits, target}, [=](const std::vector<Tensor>& x) {
                      return compute::cross_entropy(x[0], x[1], 3, eps).first;
                    }});
    rows.push_back({"cross_entropy_logp" + suffix, {logits, target}, [=](const std::vector<Tensor>& x) {
                      return compute::cross_entropy(x[0], x[1], 3, eps).second;
                    }});
    rows.push_back({"cross_entropy_backward" + suffix, {logits, target, {{37}}}, [=](const std::vector<Tensor>& x) {
                      const Tensor logp = compute::cross_entropy(x[0], x[1], 3, eps).second;
                      return compute::cross_entropy_backward(logp, x[1], x[2], 3, eps);
                    }});
  }
  for (double p : {2.0, 1.0, 3.5, std::numeric_limits<double>::infinity()}) {
    rows.push_back({"norm_parts_p" + std::to_string(p),
                    {{{3000, 5}}, {{7}}, {{0}}, {{4100}}},
                    [=](const std::vector<Tensor>& x) { return compute::norm_parts(x, p); },
                    10.0});
  }
  const auto add_optimizer = [&](const std::string& name, OptimizerKind kind, OptimizerCoeffs coeffs,
                                 std::vector<int> slots) {
    // inputs: p0, g0, p1, g1, then the used buffers of p0, then those of p1 (positive draws).
    std::vector<Input> inputs = {{{5000}}, {{5000}}, {{3, 2}}, {{3, 2}}};
    for (const Shape& shape : {Shape{5000}, Shape{3, 2}}) {
      for (size_t k = 0; k < slots.size(); ++k) inputs.push_back({shape, Draw::Positive});
    }
    rows.push_back({name, inputs, [=](const std::vector<Tensor>& x) {
                      std::vector<ParamUpdate> updates(2);
                      std::vector<Tensor> results;
                      size_t next = 4;
                      for (size_t j = 0; j < 2; ++j) {
                        updates[j].param = compute::contiguous(x[2 * j]);
                        updates[j].grad = x[2 * j + 1];
                        updates[j].coeffs = coeffs;
                        results.push_back(updates[j].param);
                        for (int slot : slots) {
                          // RMSprop's grad_avg small enough that square_avg - grad_avg^2 stays positive.
                          const double scale = kind == OptimizerKind::RMSprop && slot == 1 ? 0.1 : 1.0;
                          updates[j].buffers[slot] = unary(UnaryOp::Affine, x[next++], {scale, 0.0});
                          results.push_back(updates[j].buffers[slot]);
                        }
                      }
                      compute::optimizer_update(kind, updates);
                      std::vector<Tensor> flat;
                      for (const Tensor& t : results) flat.push_back(t.reshape({t.numel()}));
                      return compute::concat(flat, 0);
                    }});
  };
  OptimizerCoeffs sgd;
  sgd.neg_lr = -0.1, sgd.weight_decay = 0.01, sgd.l2 = true, sgd.momentum = 0.9, sgd.one_minus_dampening = 0.8;
  add_optimizer("sgd_momentum", OptimizerKind::SGD, sgd, {0});
  sgd.nesterov = true, sgd.one_minus_dampening = 1.0;
  add_optimizer("sgd_nesterov", OptimizerKind::SGD, sgd, {0});
  add_optimizer("sgd_plain", OptimizerKind::SGD, OptimizerCoeffs{.neg_lr = -0.1}, {});
  OptimizerCoeffs adam;
  adam.neg_lr = -0.01 / (1 - 0.9 * 0.9), adam.bias_correction2_sqrt = std::sqrt(1 - 0.999 * 0.999);
  adam.beta1 = 0.9, adam.one_minus_beta1 = 0.1, adam.beta2 = 0.999, adam.one_minus_beta2 = 0.001, adam.eps = 1e-8;
  adam.weight_decay = 0.01, adam.l2 = true;
  add_optimizer("adam", OptimizerKind::Adam, adam, {0, 1});
  add_optimizer("adam_amsgrad", OptimizerKind::Adam, adam, {0, 1, 2});
  adam.l2 = false, adam.decoupled = true, adam.decay_factor = 1 - 0.01 * 0.01;
  add_optimizer("adamw", OptimizerKind::Adam, adam, {0, 1});
  OptimizerCoeffs rmsprop;
  rmsprop.neg_lr = -0.01, rmsprop.beta2 = 0.99, rmsprop.one_minus_beta2 = 0.01, rmsprop.eps = 1e-8;
  add_optimizer("rmsprop", OptimizerKind::RMSprop, rmsprop, {0});
  rmsprop.momentum = 0.5;
  add_optimizer("rmsprop_centered_momentum", OptimizerKind::RMSprop, rmsprop, {0, 1, 2});
  OptimizerCoeffs adagrad;
  adagrad.neg_lr = -0.05, adagrad.eps = 1e-10, adagrad.weight_decay = 0.1, adagrad.l2 = true;
  add_optimizer("adagrad", OptimizerKind::Adagrad, adagrad, {0});
  return rows;
}

// The row's inputs, drawn on the CPU from a fixed seed.
std::vector<Tensor> cpu_inputs(const OpRow& row, DType dtype, uint64_t seed) {
  Generator generator(seed);
  std::vector<Tensor> inputs;
  for (const Input& input : row.inputs) {
    if (input.draw == Draw::Index) {
      Tensor u = rand(input.shape, TensorOptions{}.with_dtype(DType::Float64), &generator, 0.0,
                      static_cast<double>(input.index_limit) - 1e-9);
      inputs.push_back(compute::convert(u, DType::Int64, Device::cpu()));
      continue;
    }
    Tensor x = randn(input.shape, TensorOptions{}.with_dtype(dtype), &generator);
    if (input.draw == Draw::Positive) x = unary(UnaryOp::Affine, unary(UnaryOp::Abs, x), {1.0, 0.25});
    inputs.push_back(x);
  }
  return inputs;
}

void expect_close(const Tensor& want, const Tensor& got, double rtol, double atol, const std::string& what) {
  ASSERT_EQ(want.shape(), got.shape()) << what;
  ASSERT_EQ(want.dtype(), got.dtype()) << what;
  ASSERT_TRUE(got.device().is_cuda()) << what << ": the result left the GPU";
  const std::vector<double> expected = want.to_vector<double>(), actual = got.to_vector<double>();
  int reported = 0;
  for (size_t i = 0; i < expected.size() && reported < 5; ++i) {
    const double tolerance = atol + rtol * std::abs(expected[i]);
    if (!(std::abs(expected[i] - actual[i]) <= tolerance)) {
      ADD_FAILURE() << what << ": element " << i << " is " << actual[i] << " on the GPU, " << expected[i]
                    << " on the CPU";
      ++reported;
    }
  }
}

// The table itself is checked on every machine: each row runs on the CPU and gives a finite
// result, so a failure on a GPU machine points at the CUDA backend, not at the row.
TEST(CudaBackendOps, TableRowsRunOnTheCpu) {
  uint64_t seed = 100;
  for (const OpRow& row : op_table()) {
    for (DType dtype : {DType::Float32, DType::Float64}) {
      const Tensor result = row.run(cpu_inputs(row, dtype, ++seed));
      for (double value : result.to_vector<double>()) ASSERT_TRUE(std::isfinite(value)) << row.name;
    }
  }
}

TEST(CudaBackendOps, EveryOpMatchesTheCpu) {
  RECUR_REQUIRE_GPU();
  uint64_t seed = 100;
  for (const OpRow& row : op_table()) {
    for (DType dtype : {DType::Float32, DType::Float64}) {
      const std::vector<Tensor> on_cpu = cpu_inputs(row, dtype, ++seed);
      std::vector<Tensor> on_gpu;
      for (const Tensor& x : on_cpu) on_gpu.push_back(compute::convert(x, x.dtype(), kGpu));
      const Tensor want = row.run(on_cpu);
      const Tensor got = row.run(on_gpu);
      const double rtol = (dtype == DType::Float32 ? 1e-4 : 1e-10) * row.tolerance_scale;
      const double atol = (dtype == DType::Float32 ? 1e-5 : 1e-12) * row.tolerance_scale;
      expect_close(want, got, rtol, atol, row.name + " in " + std::string(dtype_name(dtype)));
    }
  }
}

TEST(CudaBackendOps, RandomStreamsMatchTheCpu) {
  RECUR_REQUIRE_GPU();
  for (DType dtype : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16}) {
    Generator cpu_stream(42), gpu_stream(42);
    const Shape shape = {3, 11};
    // U(0, 1) and Bernoulli involve only exact arithmetic: bit for bit.
    const Tensor u_cpu = rand(shape, TensorOptions{}.with_dtype(dtype), &cpu_stream);
    const Tensor u_gpu = rand(shape, TensorOptions{}.with_dtype(dtype).with_device(kGpu), &gpu_stream);
    EXPECT_EQ(u_cpu.to_vector<double>(), u_gpu.to_vector<double>()) << dtype_name(dtype);
    const Tensor mask_cpu = compute::dropout_mask(shape, DType::Float32, Device::cpu(), 0.7, cpu_stream);
    const Tensor mask_gpu = compute::dropout_mask(shape, DType::Float32, kGpu, 0.7, gpu_stream);
    EXPECT_EQ(mask_cpu.to_vector<double>(), mask_gpu.to_vector<double>());
    // Normal numbers go through log, sqrt, cos and sin, whose last bit may differ.
    const Tensor n_cpu = randn(shape, TensorOptions{}.with_dtype(dtype), &cpu_stream, 0.5, 2.0);
    const Tensor n_gpu = randn(shape, TensorOptions{}.with_dtype(dtype).with_device(kGpu), &gpu_stream, 0.5, 2.0);
    const double rtol = dtype == DType::Float64 ? 1e-13 : (dtype == DType::Float32 ? 1e-6 : 1e-2);
    expect_close(n_cpu, n_gpu, rtol, rtol, "randn");
    EXPECT_EQ(cpu_stream.offset(), gpu_stream.offset());
  }
}

TEST(CudaBackendOps, RandomFillOfAStridedViewFollowsRowMajorOrder) {
  RECUR_REQUIRE_GPU();
  Tensor cpu_out = zeros({4, 6}), gpu_out = zeros({4, 6}, TensorOptions{}.with_device(kGpu));
  for (Tensor* out : {&cpu_out, &gpu_out}) {
    Tensor view = transposed(*out);
    backend_of(view).fill_uniform(view, 9, 3, -1.0, 1.0);
  }
  expect_close(cpu_out, gpu_out, 1e-6, 1e-7, "fill_uniform on a transposed view");
}

TEST(CudaBackendOps, TransfersRoundTripLargeTensors) {
  RECUR_REQUIRE_GPU();
  // Larger than the 8 MiB pinned staging buffer, so the transfer goes in chunks.
  Generator generator(5);
  const Tensor host = randn({3, 1 << 20}, TensorOptions{}.with_dtype(DType::Float64), &generator);
  const Tensor device = compute::convert(host, DType::Float64, kGpu);
  const Tensor back = compute::convert(device, DType::Float64, Device::cpu());
  EXPECT_EQ(host.to_vector<double>(), back.to_vector<double>());
}

// A full reduction of millions of elements (a loss over every output) splits each output over
// many blocks and combines the partials in a second pass; it matches the CPU, also along a
// strided axis and for a few outputs, and gives the same bits on every run.
TEST(CudaBackendOps, LargeReductionsSplitOverBlocksMatchTheCpu) {
  RECUR_REQUIRE_GPU();
  Generator generator(9);
  for (DType dtype : {DType::Float64, DType::Float32}) {
    const Tensor host = randn({3, 1 << 20}, TensorOptions{}.with_dtype(dtype), &generator);
    const Tensor device = compute::convert(host, dtype, kGpu);
    const double tolerance = dtype == DType::Float64 ? 1e-12 : 1e-5;
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min}) {
      for (const std::vector<int64_t>& axes : std::vector<std::vector<int64_t>>{{0, 1}, {1}}) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + " op " + std::to_string(static_cast<int>(op)) + " axes " +
                     std::to_string(axes.size()));
        const std::vector<double> want = reduce(op, host, axes, false).to_vector<double>();
        const Tensor got_tensor = reduce(op, device, axes, false);
        const std::vector<double> got = got_tensor.to_vector<double>();
        ASSERT_EQ(want.size(), got.size());
        // A sum of n terms of size ~1 has rounding error ~sqrt(n) eps relative to its terms.
        const double scale = op == ReduceOp::Sum ? std::sqrt(3.0 * (1 << 20)) : 1.0;
        for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(want[i], got[i], tolerance * scale * (1 + std::abs(want[i])));
        EXPECT_EQ(got, reduce(op, device, axes, false).to_vector<double>()) << "not deterministic";
      }
    }
    // 3 outputs, each over 1M elements 3 apart (the reduced axis of a transposed view).
    const std::vector<double> want = reduce(ReduceOp::Sum, host, {1}, false).to_vector<double>();
    const std::vector<double> got = reduce(ReduceOp::Sum, transposed(device), {0}, false).to_vector<double>();
    ASSERT_EQ(got.size(), 3u);
    const double scale = std::sqrt(double(1 << 20));
    for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(want[i], got[i], tolerance * scale * (1 + std::abs(want[i])));
  }
}

TEST(CudaBackendOps, BadIndexIsAClearError) {
  RECUR_REQUIRE_GPU();
  const Tensor table = zeros({4, 3}, TensorOptions{}.with_device(kGpu));
  const Tensor index = from_vector<int64_t>({1, 4}, {2}, TensorOptions{}.with_dtype(DType::Int64).with_device(kGpu));
  // The kernel records the bad index; the host hears of it at its next synchronisation.
  try {
    const Tensor rows = compute::index_select(table, 0, index);
    static_cast<void>(rows.to_vector<float>());
    ADD_FAILURE() << "an index out of range was not reported";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("index 4 (at position 1) is out of range for an axis of size 4"),
              std::string::npos)
        << error.what();
  }
  // Reported once: the device works on.
  const Tensor good = from_vector<int64_t>({3, 0}, {2}, TensorOptions{}.with_dtype(DType::Int64).with_device(kGpu));
  EXPECT_EQ(compute::index_select(table, 0, good).to_vector<float>().size(), 6u);

  const Tensor logits = zeros({2, 5}, TensorOptions{}.with_device(kGpu));
  const Tensor target = from_vector<int64_t>({1, 7}, {2}, TensorOptions{}.with_dtype(DType::Int64).with_device(kGpu));
  try {
    static_cast<void>(compute::cross_entropy(logits, target, -100, 0.0).first.to_vector<float>());
    ADD_FAILURE() << "a target out of range was not reported";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("target 7 (row 1) is out of range for 5 classes"), std::string::npos)
        << error.what();
  }
}

#if RECUR_HAVE_CUDA
TEST(CudaBackendOps, AllocatorReusesMemoryAcrossSteps) {
  RECUR_REQUIRE_GPU();
  auto& backend = cuda_backend(0);
  const auto step = [] {
    Tensor x = ones({256, 256}, TensorOptions{}.with_device(kGpu));
    Tensor y = compute::matmul(x, x);
    return y.numel();
  };
  step();
  backend.synchronize();
  const uint64_t before = backend.allocator_stats().device_allocations;
  for (int i = 0; i < 5; ++i) step();
  EXPECT_EQ(backend.allocator_stats().device_allocations, before);
  EXPECT_GT(backend.allocator_stats().cache_hits, 0u);
}

TEST(CudaBackendOps, HalfPrecisionGemmIsOptIn) {
  RECUR_REQUIRE_GPU();
  auto& backend = cuda_backend(0);
  Generator generator(3);
  const Tensor a = randn({16, 32}, {}, &generator), b = randn({32, 8}, {}, &generator);
  const Tensor ah = compute::convert(a, DType::Float16, kGpu), bh = compute::convert(b, DType::Float16, kGpu);
  EXPECT_THROW(compute::matmul(ah, bh), Error);  // compute:: rejects non-float32/64 before the backend
  Tensor c = empty({16, 8}, TensorOptions{}.with_dtype(DType::Float16).with_device(kGpu));
  EXPECT_THROW(backend.gemm(c, ah, Transpose::No, bh, Transpose::No), Error);
  backend.set_allow_reduced_precision(true);
  backend.gemm(c, ah, Transpose::No, bh, Transpose::No);
  backend.set_allow_reduced_precision(false);
  const Tensor want = compute::matmul(compute::convert(ah, DType::Float32, Device::cpu()),
                                      compute::convert(bh, DType::Float32, Device::cpu()));
  const std::vector<double> expected = want.to_vector<double>();
  const std::vector<double> actual = compute::convert(c, DType::Float32, Device::cpu()).to_vector<double>();
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(actual[i], expected[i], 1e-2 + 1e-2 * std::abs(expected[i]));
}
#endif

}  // namespace
}  // namespace recur
