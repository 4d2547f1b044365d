// The compute layer (backends/compute.h), the computing Tensor members and factories, tensor
// printing, device registration and the thread budget.
#include <cmath>

#include "backends/cuda_info.h"
#include "backends/threading.h"
#include "test_backend_util.h"

namespace recur {
namespace {

using testing::HasSubstr;
using namespace testing_util;

// The message of the recur::Error that f throws ("" when it throws none).
template <typename F> std::string error_of(const F& f) {
  try {
    f();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

TEST(Compute, BinaryBroadcastsAndNamesMismatchedDtypes) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor a = random_tensor({2, 1, 4}, dtype, 1);
    Tensor b = reversed_layout({3, 4}, dtype, 2);
    Tensor out = compute::binary(BinaryOp::Sub, a, b);
    ASSERT_EQ(out.shape(), (Shape{2, 3, 4}));
    std::vector<double> want;
    for_each_index(out.shape(), [&](const std::vector<int64_t>& i) {
      want.push_back(element(a, {i[0], 0, i[2]}) - element(b, {i[1], i[2]}));
    });
    expect_values_near(out, want, tolerance(dtype));
  }
  EXPECT_THAT(error_of([] {
                compute::binary(BinaryOp::Add, zeros({2, 3}), zeros({2, 3}, options_for(DType::Float64)));
              }),
              HasSubstr("add: operands are float32[2, 3] on cpu and float64[2, 3] on cpu: dtypes differ"));
  const std::string broadcast = error_of([] { compute::binary(BinaryOp::Mul, zeros({2, 3}), zeros({4})); });
  EXPECT_THAT(broadcast, HasSubstr("mul:"));
  EXPECT_THAT(broadcast, HasSubstr("[2, 3]"));
  EXPECT_THAT(error_of([] { compute::unary(UnaryOp::Exp, zeros({2}, options_for(DType::Int64))); }),
              HasSubstr("exp: expected a float32 or float64 tensor, got int64[2] on cpu"));
}

TEST(Compute, WhereBroadcastsAllThreeAndAcceptsAnyConditionDtype) {
  Tensor cond = int64_tensor({1, 0, 1}, {3});
  Tensor a = full({2, 3}, 5.0);
  Tensor b = scalar_tensor(-1.0);
  Tensor out = compute::where(cond, a, b);
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{5, -1, 5, 5, -1, 5}));
}

TEST(Compute, ReduceNormalisesAxesAndHonoursKeepdim) {
  Tensor x = arange(0, 24, 1, options_for(DType::Float64));
  Tensor x3 = x.as_strided_raw({2, 3, 4}, {12, 4, 1}, 0);
  Tensor kept = compute::reduce(ReduceOp::Sum, x3, {-1, 0}, true);
  EXPECT_EQ(kept.shape(), (Shape{1, 3, 1}));
  EXPECT_EQ(kept.to_vector<double>(), (std::vector<double>{60, 92, 124}));
  Tensor dropped = compute::reduce(ReduceOp::Max, x3, {1}, false);
  EXPECT_EQ(dropped.shape(), (Shape{2, 4}));
  EXPECT_EQ(dropped.to_vector<double>(), (std::vector<double>{8, 9, 10, 11, 20, 21, 22, 23}));
  Tensor all = compute::reduce(ReduceOp::Mean, x3, {}, false);
  EXPECT_EQ(all.dim(), 0);
  EXPECT_DOUBLE_EQ(all.item(), 11.5);
  EXPECT_THAT(error_of([&] { compute::reduce(ReduceOp::Sum, x3, {1, -2}, false); }), HasSubstr("twice"));
  EXPECT_THAT(error_of([&] { compute::reduce(ReduceOp::Sum, x3, {3}, false); }), HasSubstr("axis 3 is out of range"));
  Tensor indices = compute::argmax(x3, 1, false);
  EXPECT_EQ(indices.shape(), (Shape{2, 4}));
  EXPECT_EQ(indices.dtype(), DType::Int64);
  EXPECT_EQ(indices.to_vector<int64_t>(), std::vector<int64_t>(8, 2));
}

TEST(Compute, SumToInvertsBroadcasting) {
  Tensor g = ones({2, 3, 4}, options_for(DType::Float64));
  Tensor s = compute::sum_to(g, {3, 1});
  EXPECT_EQ(s.shape(), (Shape{3, 1}));
  EXPECT_EQ(s.to_vector<double>(), (std::vector<double>{8, 8, 8}));
  EXPECT_EQ(compute::sum_to(g, {}).item(), 24.0);
  EXPECT_THAT(error_of([&] { compute::sum_to(g, {5}); }), HasSubstr("sum_to: cannot sum"));
}

TEST(Compute, SoftmaxAndBackwardCheckTheirArguments) {
  Tensor x = random_tensor({3, 4}, DType::Float64, 3);
  Tensor y = compute::softmax(x, -1, SoftmaxKind::Plain);
  Tensor rows = compute::reduce(ReduceOp::Sum, y, {1}, false);
  expect_values_near(rows, {1, 1, 1}, 1e-12);
  Tensor dx = compute::softmax_backward(y, ones({3, 4}, options_for(DType::Float64)), 1, SoftmaxKind::Plain);
  expect_values_near(dx, std::vector<double>(12, 0.0), 1e-12);  // softmax sums to a constant
  EXPECT_THROW(compute::softmax(x, 2, SoftmaxKind::Log), Error);
  EXPECT_THROW(compute::softmax_backward(y, ones({4, 3}, options_for(DType::Float64)), 1, SoftmaxKind::Plain), Error);
}

TEST(Compute, IndexSelectAndIndexAddRoundTripEmbeddingRows) {
  Tensor weight = arange(0, 12, 1).as_strided_raw({4, 3}, {3, 1}, 0);
  Tensor index = int64_tensor({3, 1, 3}, {3});
  Tensor rows = compute::index_select(weight, 0, index);
  EXPECT_EQ(rows.to_vector<float>(), (std::vector<float>{9, 10, 11, 3, 4, 5, 9, 10, 11}));
  Tensor grad = compute::index_add({4, 3}, 0, index, ones({3, 3}));
  EXPECT_EQ(grad.to_vector<float>(), (std::vector<float>{0, 0, 0, 1, 1, 1, 0, 0, 0, 2, 2, 2}));
  EXPECT_THAT(error_of([&] { compute::index_select(weight, 0, from_vector<float>({1}, {1})); }),
              HasSubstr("index must be a 1-D int64 tensor"));
  Tensor out = zeros({4, 3});
  EXPECT_THAT(error_of([&] {
                compute::index_add_(out, 0, index, ones({2, 3}));
              }),
              HasSubstr("should have shape [3, 3]"));
  EXPECT_THAT(error_of([&] { compute::index_select(weight, 0, int64_tensor({4}, {1})); }),
              HasSubstr("index 4 is out of range for axis 0 of size 4"));
}

TEST(Compute, ConcatJoinsViewsAlongAnyAxis) {
  Tensor a = arange(0, 6, 1, options_for(DType::Float64)).as_strided_raw({2, 3}, {3, 1}, 0);
  Tensor b = arange(6, 10, 1, options_for(DType::Float64)).as_strided_raw({2, 2}, {1, 2}, 0);  // transposed
  Tensor joined = compute::concat({a, b}, 1);
  EXPECT_EQ(joined.shape(), (Shape{2, 5}));
  EXPECT_EQ(joined.to_vector<double>(), (std::vector<double>{0, 1, 2, 6, 8, 3, 4, 5, 7, 9}));
  Tensor rows = compute::concat({a, a, zeros({0, 3}, options_for(DType::Float64))}, -2);
  EXPECT_EQ(rows.shape(), (Shape{4, 3}));
  EXPECT_THAT(error_of([&] { compute::concat({a, b}, 0); }), HasSubstr("all sizes but axis 0 must match"));
  EXPECT_THROW(compute::concat({}, 0), Error);
}

TEST(Compute, ConvertAndCopyChangeDtypeAndKeepValues) {
  Tensor x = reversed_layout({3, 2}, DType::Float64, 4);
  Tensor f = compute::convert(x, DType::Float32, Device::cpu());
  EXPECT_TRUE(f.is_contiguous());
  EXPECT_EQ(f.dtype(), DType::Float32);
  expect_values_near(f, values_of(x), 1e-7);
  Tensor contiguous = compute::contiguous(x);
  EXPECT_TRUE(contiguous.is_contiguous());
  EXPECT_EQ(values_of(contiguous), values_of(x));
  EXPECT_FALSE(contiguous.storage() == x.storage());
  // copy_ broadcasts and converts.
  Tensor dst = zeros({2, 3});
  dst.copy_(int64_tensor({1, 2, 3}, {3}));
  EXPECT_EQ(dst.to_vector<float>(), (std::vector<float>{1, 2, 3, 1, 2, 3}));
  EXPECT_THAT(error_of([&] { dst.copy_(zeros({4})); }), HasSubstr("does not broadcast"));
}

TEST(Compute, FactoriesFillShapesAndHonourRequiresGrad) {
  EXPECT_EQ(zeros({2, 2}).to_vector<float>(), std::vector<float>(4, 0.0f));
  EXPECT_EQ(ones({3}, options_for(DType::Int64)).to_vector<int64_t>(), std::vector<int64_t>(3, 1));
  EXPECT_EQ(full({2}, 2.5, options_for(DType::Float64)).to_vector<double>(), std::vector<double>(2, 2.5));
  EXPECT_EQ(arange(1, 2, 0.25).to_vector<float>(), (std::vector<float>{1, 1.25, 1.5, 1.75}));
  EXPECT_EQ(arange(5, 0, -2, options_for(DType::Int64)).to_vector<int64_t>(), (std::vector<int64_t>{5, 3, 1}));
  EXPECT_EQ(arange(0, 0).numel(), 0);
  EXPECT_THROW(arange(0, 1, 0), Error);
  Tensor s = scalar_tensor(3.0, TensorOptions{}.with_requires_grad(true));
  EXPECT_EQ(s.dim(), 0);
  EXPECT_TRUE(s.requires_grad());
  EXPECT_DOUBLE_EQ(s.item(), 3.0);
  Tensor like = zeros_like(from_vector<double>({1, 2}, {2}, options_for(DType::Float64)));
  EXPECT_EQ(like.dtype(), DType::Float64);
  EXPECT_FALSE(like.requires_grad());
  EXPECT_EQ(ones_like(like).to_vector<double>(), std::vector<double>(2, 1.0));
  EXPECT_EQ(empty_like(like).shape(), (Shape{2}));
  EXPECT_THROW(randn({2}, TensorOptions{}.with_dtype(DType::Int64)), Error);
  EXPECT_THROW(from_vector<float>({1, 2, 3}, {2, 2}), Error);
  EXPECT_THROW(zeros({2}, TensorOptions{}.with_dtype(DType::Int64).with_requires_grad(true)), Error);
}

TEST(Compute, ItemAndToVectorReadNonContiguousViews) {
  Tensor x = arange(0, 6, 1, options_for(DType::Float64)).as_strided_raw({3, 2}, {1, 3}, 0);
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(x.to_vector<int64_t>(), (std::vector<int64_t>{0, 3, 1, 4, 2, 5}));
  EXPECT_DOUBLE_EQ(x.as_strided_raw({}, {}, 4).item(), 4.0);
  EXPECT_THAT(error_of([&] { x.item(); }), HasSubstr("exactly one element"));
  Tensor filled = zeros({2, 3});
  Tensor column = filled.as_strided_raw({2}, {3}, 1);
  column.fill_(9.0);
  EXPECT_EQ(filled.to_vector<float>(), (std::vector<float>{0, 9, 0, 0, 9, 0}));
}

TEST(TensorFormat, PrintsValuesDtypeAndShape) {
  Tensor x = from_vector<double>({1.5, -2.25, 3, 4}, {2, 2}, options_for(DType::Float64));
  EXPECT_EQ(fmt::format("{}", x),
            "tensor([[ 1.5000, -2.2500],\n"
            "        [ 3.0000,  4.0000]], dtype=float64, shape=[2, 2])");
  EXPECT_EQ(fmt::format("{}", int64_tensor({3, 10}, {2})), "tensor([ 3, 10], dtype=int64, shape=[2])");
  EXPECT_EQ(fmt::format("{}", scalar_tensor(2.0)), "tensor(2., dtype=float32, shape=[])");
  EXPECT_EQ(fmt::format("{}", Tensor()), "tensor(undefined)");
  EXPECT_EQ(fmt::format("{}", zeros({0, 3})), "tensor([], dtype=float32, shape=[0, 3])");
}

TEST(TensorFormat, ElidesLongAxesAroundEllipsis) {
  const std::string text = fmt::format("{}", arange(0, 100, 1, options_for(DType::Int64)));
  EXPECT_EQ(text, "tensor([ 0,  1,  2, ..., 97, 98, 99], dtype=int64, shape=[100])");
  const std::string matrix = fmt::format("{}", zeros({10, 10}));
  EXPECT_THAT(matrix, HasSubstr("...,"));
  EXPECT_THAT(matrix, HasSubstr("shape=[10, 10]"));
}

TEST(Devices, CudaRequestsFailWithAClearReasonWhenUnavailable) {
  std::string why;
  const int count = cuda_device_count(&why);
  if (count > 0) GTEST_SKIP() << "a CUDA device is visible; this test covers machines without one";
  EXPECT_FALSE(why.empty());
  const std::string message = error_of([] { backend_for(Device::cuda(0)); });
  if (cuda_compiled()) {
    EXPECT_THAT(message, HasSubstr("cuda:0 requested, but no CUDA device is visible"));
  } else {
    EXPECT_THAT(message, HasSubstr("built without the CUDA backend"));
    EXPECT_EQ(cudnn_version_runtime(), 0);
  }
  EXPECT_THROW(zeros({2}, TensorOptions{}.with_device(Device::cuda(0))), Error);
  EXPECT_FALSE(cuda_runtime_version().empty());
}

TEST(Devices, CpuBackendIsRegisteredAndNamed) {
  Backend& backend = backend_for(Device::cpu());
  EXPECT_EQ(backend.name(), "cpu");
  EXPECT_EQ(backend.device(), Device::cpu());
  EXPECT_EQ(&backend_of(zeros({1})), &backend);
}

TEST(Threading, OneBudgetCanBeSetAndRestored) {
  const int saved = get_num_threads();
  EXPECT_GE(saved, 1);
  EXPECT_GE(hardware_threads(), 1);
  set_num_threads(1);
  EXPECT_EQ(get_num_threads(), 1);
  // Results do not depend on the thread count.
  Tensor x = random_tensor({300000}, DType::Float64, 5);
  const double serial = compute::reduce(ReduceOp::Sum, x, {}, false).item();
  set_num_threads(0);
  EXPECT_EQ(get_num_threads(), hardware_threads());
  set_num_threads(saved);
  EXPECT_NEAR(compute::reduce(ReduceOp::Sum, x, {}, false).item(), serial, 1e-9);
}

// The fused cross entropy refuses a target out of range itself (not only nn::cross_entropy).
TEST(ComputeFused, CrossEntropyRefusesATargetOutOfRange) {
  const Tensor logits = zeros({2, 5});
  const Tensor target = from_vector<int64_t>({1, 7}, {2}, TensorOptions{}.with_dtype(DType::Int64));
  try {
    compute::cross_entropy(logits, target, -100, 0.0);
    ADD_FAILURE() << "no error";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("target 7 (row 1) is out of range for 5 classes"));
  }
  const Tensor ignored = from_vector<int64_t>({1, -100}, {2}, TensorOptions{}.with_dtype(DType::Int64));
  const auto [loss, logp] = compute::cross_entropy(logits, ignored, -100, 0.0);
  EXPECT_NEAR(loss.to_vector<float>()[0], std::log(5.0), 1e-6);
  EXPECT_EQ(loss.to_vector<float>()[1], 0.0f);
}

}  // namespace
}  // namespace recur
