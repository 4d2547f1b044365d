// The CUDA backend beyond the op table (tests/test_backend_ops.cpp runs every op there on the CPU
// and on CUDA): the random streams match the CPU's, transfers, large reductions, bad indices,
// the allocator and half-precision GEMM on a real device. Without a GPU every test here calls
// GTEST_SKIP() with the reason.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/compute.h"
#include "core/tensor.h"
#include "recur/config.h"

#if RECUR_HAVE_CUDA
#include "backends/caching_allocator.h"
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

using compute::reduce;

Tensor transposed(const Tensor& t) {  // a non-contiguous view of a 2-D tensor
  return t.as_strided_raw({t.shape()[1], t.shape()[0]}, {t.strides()[1], t.strides()[0]}, t.offset());
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
        for (size_t i = 0; i < want.size(); ++i)
          EXPECT_NEAR(want[i], got[i], tolerance * scale * (1 + std::abs(want[i])));
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
