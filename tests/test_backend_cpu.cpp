// The CPU backend's primitives against straightforward reference loops, on float32 and
// float64, with contiguous, transposed, sliced and stride-0 (broadcast) operands.
#include <cmath>
#include <cstdint>
#include <limits>

#include "backends/cpu/cpu_backend.h"
#include "test_backend_util.h"

namespace recur {
namespace {

using testing::HasSubstr;
using namespace testing_util;

class CpuFloat : public testing::TestWithParam<DType> {};
INSTANTIATE_TEST_SUITE_P(Dtypes, CpuFloat, testing::Values(DType::Float32, DType::Float64),
                         [](const testing::TestParamInfo<DType>& info) { return std::string(dtype_name(info.param)); });

Backend& cpu() { return backend_for(Device::cpu()); }

// ---- memory ------------------------------------------------------------------------------

TEST(CpuBackend, AllocatorAlignsTo64BytesAndAcceptsZeroBytes) {
  Allocator& allocator = allocator_for(Device::cpu());
  for (size_t nbytes : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{1000}}) {
    void* ptr = allocator.allocate(nbytes);
    ASSERT_NE(ptr, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(ptr) % 64, 0u) << nbytes;
    allocator.deallocate(ptr, nbytes);
  }
  Tensor empty_tensor = empty({0, 3});
  EXPECT_EQ(empty_tensor.numel(), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(zeros({5}).raw_data()) % 64, 0u);
}

TEST(CpuBackend, CopyConvertsBetweenEveryDtypePair) {
  // Values every dtype holds exactly (int64 gets the truncated ones).
  const std::vector<double> values = {-3.0, 0.0, 2.0, 1024.0, -0.5, 7.25};
  const DType dtypes[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16, DType::Int64};
  for (DType from : dtypes) {
    Tensor src = from_vector(values, {2, 3}, options_for(from));
    for (DType to : dtypes) {
      Tensor dst = empty({2, 3}, options_for(to));
      cpu().copy(dst, src);
      const std::vector<double> got = values_of(dst);
      for (size_t i = 0; i < values.size(); ++i) {
        const bool integral = from == DType::Int64 || to == DType::Int64;
        EXPECT_EQ(got[i], integral ? std::trunc(values[i]) : values[i])
            << dtype_name(from) << " -> " << dtype_name(to) << " element " << i;
      }
    }
  }
}

TEST(CpuBackend, CopyRoundsToNearestEvenForHalfTypes) {
  Tensor src = from_vector<float>({1.0f + 1.0f / 4096.0f, 65504.0f, 1e6f, 1.0f + 1.0f / 256.0f}, {4});
  Tensor half = empty({4}, options_for(DType::Float16));
  cpu().copy(half, src);
  const std::vector<double> got = values_of(half);
  EXPECT_EQ(got[0], 1.0);  // 1 + 2^-12 is below half a half-ulp of 1
  EXPECT_EQ(got[1], 65504.0);
  EXPECT_TRUE(std::isinf(got[2]));
  Tensor bf16 = empty({4}, options_for(DType::BFloat16));
  cpu().copy(bf16, src);
  EXPECT_EQ(values_of(bf16)[3], 1.0);  // 1 + 2^-8 is halfway between bfloat16 values 1 and 1 + 2^-7: even wins
}

TEST_P(CpuFloat, CopyHandlesTransposedAndSlicedViewsOnBothSides) {
  const DType dtype = GetParam();
  Tensor src = reversed_layout({4, 5, 3}, dtype, 1);
  ASSERT_FALSE(src.is_contiguous());
  // Destination: every other column of a wider buffer.
  Tensor wide = zeros({4, 5, 6}, options_for(dtype));
  Tensor dst = wide.as_strided_raw({4, 5, 3}, {30, 6, 2}, 1);
  cpu().copy(dst, src);
  expect_values_near(dst, values_of(src), 0.0);
  // The untouched columns stay zero.
  for_each_index({4, 5, 3}, [&](const std::vector<int64_t>& i) {
    EXPECT_EQ(element(wide, {i[0], i[1], 2 * i[2]}), 0.0);
  });
}

TEST_P(CpuFloat, CopyOfLargeTransposedViewsWalksTilesCorrectly) {
  const DType dtype = GetParam();
  // Big enough for the tiled transpose loop, with partial tiles at both edges and an outer axis;
  // all axes reversed, then only the last two swapped.
  Tensor src = reversed_layout({3, 70, 97}, dtype, 2);
  Tensor dst = empty({3, 70, 97}, options_for(dtype));
  cpu().copy(dst, src);
  expect_values_near(dst, values_of(src), 0.0);
  Tensor base = random_tensor({3, 97, 70}, dtype, 3);
  Tensor swapped = base.as_strided_raw({3, 70, 97}, {97 * 70, 1, 70}, 0);
  cpu().copy(dst, swapped);
  expect_values_near(dst, values_of(swapped), 0.0);
}

TEST_P(CpuFloat, CopyBroadcastsStrideZeroSource) {
  const DType dtype = GetParam();
  Tensor row = from_vector<double>({1, 2, 3}, {3}, options_for(dtype));
  Tensor dst = empty({4, 3}, options_for(dtype));
  cpu().copy(dst, expanded(row, {4, 3}));
  expect_values_near(dst, {1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3}, 0.0);
}

TEST(CpuBackend, FillWritesOnlyTheViewedElements) {
  Tensor base = zeros({3, 4});
  Tensor column = base.as_strided_raw({3}, {4}, 2);
  cpu().fill(column, 7.5);
  expect_values_near(base, {0, 0, 7.5, 0, 0, 0, 7.5, 0, 0, 0, 7.5, 0}, 0.0);
  Tensor ints = empty({5}, options_for(DType::Int64));
  cpu().fill(ints, -4.0);
  EXPECT_EQ(ints.to_vector<int64_t>(), std::vector<int64_t>(5, -4));
}

TEST(CpuBackend, HostTransfersRequireMatchingByteCounts) {
  Tensor t = empty({2, 2}, options_for(DType::Float64));
  const double host[4] = {1, 2, 3, 4};
  cpu().copy_from_host(t, host, sizeof(host));
  double back[4] = {};
  cpu().copy_to_host(back, t, sizeof(back));
  EXPECT_EQ(back[3], 4.0);
  EXPECT_THROW(cpu().copy_from_host(t, host, 8), Error);
}

// ---- elementwise -------------------------------------------------------------------------

// Every op's values on contiguous, transposed and broadcast operands: tests/test_backend_ops.cpp.
// Here: special values, int64, and the split of large loops across threads.

TEST(CpuBackend, UnaryOpsPropagateNaNAndHandleInfinities) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  Tensor x = from_vector<double>({nan, inf, -inf}, {3}, options_for(DType::Float64));
  Tensor y = empty({3}, options_for(DType::Float64));
  cpu().unary(UnaryOp::Relu, y, x);
  expect_values_near(y, {nan, inf, 0.0}, 0.0);
  cpu().unary(UnaryOp::IsFinite, y, x);
  expect_values_near(y, {0.0, 0.0, 0.0}, 0.0);
  cpu().unary(UnaryOp::Sigmoid, y, x);
  expect_values_near(y, {nan, 1.0, 0.0}, 0.0);
}

TEST(CpuBackend, UnaryRejectsInt64WithDtypeInMessage) {
  Tensor x = zeros({2}, options_for(DType::Int64));
  Tensor y = zeros({2}, options_for(DType::Int64));
  try {
    cpu().unary(UnaryOp::Exp, y, x);
    FAIL() << "expected recur::Error";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("exp"));
    EXPECT_THAT(error.what(), HasSubstr("int64"));
  }
}

TEST_P(CpuFloat, LargeElementwiseSplitsAcrossThreadsLikeSerialLoops) {
  const DType dtype = GetParam();
  // Above the parallel threshold, with rows that threads split in the middle.
  const Shape shape = {333, 301};
  Tensor a = reversed_layout(shape, dtype, 30);
  Tensor b = expanded(random_tensor({301}, dtype, 31), shape);
  Tensor out = empty(shape, options_for(dtype));
  cpu().binary(BinaryOp::Mul, out, a, b);
  const std::vector<double> va = values_of(a), vb = values_of(b);
  std::vector<double> want(va.size());
  for (size_t i = 0; i < va.size(); ++i) want[i] = va[i] * vb[i];
  expect_values_near(out, want, tolerance(dtype));
  Tensor contiguous_out = empty({100000}, options_for(dtype));
  Tensor x = random_tensor({100000}, dtype, 32);
  cpu().unary(UnaryOp::Tanh, contiguous_out, x);
  std::vector<double> tanh_want;
  for (double v : values_of(x)) tanh_want.push_back(std::tanh(v));
  expect_values_near(contiguous_out, tanh_want, tolerance(dtype));
}

TEST(CpuBackend, BinarySupportsInt64ArithmeticAndRejectsInt64Division) {
  const TensorOptions ints = options_for(DType::Int64);
  Tensor a = from_vector<int64_t>({1, 5, -3}, {3}, ints);
  Tensor b = from_vector<int64_t>({4, 5, 2}, {3}, ints);
  Tensor out = empty({3}, ints);
  cpu().binary(BinaryOp::Add, out, a, b);
  EXPECT_EQ(out.to_vector<int64_t>(), (std::vector<int64_t>{5, 10, -1}));
  cpu().binary(BinaryOp::Ge, out, a, b);
  EXPECT_EQ(out.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 0}));
  EXPECT_THROW(cpu().binary(BinaryOp::Div, out, a, b), Error);
}

TEST(CpuBackend, BinaryMaximumPropagatesNaN) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor a = from_vector<double>({nan, 1.0, 2.0}, {3}, options_for(DType::Float64));
  Tensor b = from_vector<double>({0.0, nan, 1.0}, {3}, options_for(DType::Float64));
  Tensor out = empty({3}, options_for(DType::Float64));
  cpu().binary(BinaryOp::Maximum, out, a, b);
  expect_values_near(out, {nan, nan, 2.0}, 0.0);
}

TEST_P(CpuFloat, WhereSelectsByNonzeroConditionWithBroadcasting) {
  const DType dtype = GetParam();
  const Shape shape = {3, 4};
  Tensor cond = from_vector<double>({1, 0, 0, 2}, {4}, options_for(dtype));
  Tensor a = random_tensor(shape, dtype, 40);
  Tensor b = reversed_layout(shape, dtype, 41);
  Tensor out = empty(shape, options_for(dtype));
  cpu().where(out, expanded(cond, shape), a, b);
  std::vector<double> want;
  for_each_index(shape, [&](const std::vector<int64_t>& i) {
    want.push_back(element(cond, {i[1]}) != 0 ? element(a, i) : element(b, i));
  });
  expect_values_near(out, want, 0.0);
}

TEST_P(CpuFloat, AxpbyAccumulatesAndIgnoresGarbageWhenBetaIsZero) {
  const DType dtype = GetParam();
  Tensor x = reversed_layout({4, 6}, dtype, 50);
  Tensor out = random_tensor({4, 6}, dtype, 51);
  const std::vector<double> vx = values_of(x), before = values_of(out);
  cpu().axpby(out, 2.0, x, -0.5);
  std::vector<double> want;
  for (size_t i = 0; i < vx.size(); ++i) want.push_back(2.0 * vx[i] - 0.5 * before[i]);
  expect_values_near(out, want, tolerance(dtype));
  cpu().fill(out, std::numeric_limits<double>::quiet_NaN());
  cpu().axpby(out, 3.0, x, 0.0);
  want.clear();
  for (double v : vx) want.push_back(3.0 * v);
  expect_values_near(out, want, tolerance(dtype));
}

}  // namespace
}  // namespace recur
