// CPU reductions, argmax, softmax and indexing against reference loops, over every axis and
// with non-contiguous inputs.
#include <cmath>
#include <cstring>
#include <limits>

#include "backends/threading.h"
#include "test_backend_util.h"

namespace recur {
namespace {

using testing::HasSubstr;
using namespace testing_util;

class CpuReduce : public testing::TestWithParam<DType> {};
INSTANTIATE_TEST_SUITE_P(Dtypes, CpuReduce, testing::Values(DType::Float32, DType::Float64),
                         [](const testing::TestParamInfo<DType>& info) { return std::string(dtype_name(info.param)); });

Backend& cpu() { return backend_for(Device::cpu()); }

// The reduction of x over `axes` by direct summation in double, in out's row-major order.
std::vector<double> reference_reduce(ReduceOp op, const Tensor& x, const std::vector<int>& axes) {
  Shape out_shape = x.shape();
  for (int axis : axes) out_shape[axis] = 1;
  const int64_t count = numel_of(x.shape()) / std::max<int64_t>(numel_of(out_shape), 1);
  const Strides out_strides = contiguous_strides(out_shape);
  std::vector<double> out(static_cast<size_t>(numel_of(out_shape)), op == ReduceOp::Max   ? -INFINITY
                                                                    : op == ReduceOp::Min ? INFINITY
                                                                                          : 0.0);
  for_each_index(x.shape(), [&](const std::vector<int64_t>& index) {
    int64_t o = 0;
    for (size_t i = 0; i < index.size(); ++i) o += (out_shape[i] == 1 ? 0 : index[i]) * out_strides[i];
    const double v = element(x, index);
    double& acc = out[static_cast<size_t>(o)];
    acc = op == ReduceOp::Max ? std::max(acc, v) : op == ReduceOp::Min ? std::min(acc, v) : acc + v;
  });
  if (op == ReduceOp::Mean) {
    for (double& v : out) v /= static_cast<double>(count);
  }
  return out;
}

void check_reduce(const Tensor& x, const std::vector<int>& axes, const std::string& what) {
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min}) {
    Shape out_shape = x.shape();
    for (int axis : axes) out_shape[axis] = 1;
    Tensor out = empty(out_shape, options_for(x.dtype()));
    cpu().reduce(op, out, x, axes);
    expect_values_near(out, reference_reduce(op, x, axes), 10 * tolerance(x.dtype()),
                       fmt::format("{} op {} axes [{}]", what, static_cast<int>(op), fmt::join(axes, ",")));
  }
}

TEST_P(CpuReduce, ReduceMatchesReferenceOverEveryAxisSubset) {
  const DType dtype = GetParam();
  const Shape shape = {3, 4, 5};
  const Tensor inputs[] = {random_tensor(shape, dtype, 1), reversed_layout(shape, dtype, 2),
                           every_other_column(shape, dtype, 3)};
  for (const Tensor& x : inputs) {
    for (int mask = 0; mask < 8; ++mask) {
      std::vector<int> axes;
      for (int axis = 0; axis < 3; ++axis) {
        if (mask & (1 << axis)) axes.push_back(axis);
      }
      check_reduce(x, axes, x.is_contiguous() ? "contiguous" : "strided");
    }
  }
}

TEST_P(CpuReduce, ReduceHandlesLargeLeadingAndTrailingAxes) {
  const DType dtype = GetParam();
  // The bias-gradient shape (sum over the rows of [N, D]), the last axis, and everything:
  // large enough to be split across threads.
  Tensor x = random_tensor({2000, 70}, dtype, 4);
  check_reduce(x, {0}, "rows");
  check_reduce(x, {1}, "last axis");
  check_reduce(x, {0, 1}, "all");
  check_reduce(random_tensor({3, 20000, 2}, dtype, 5), {1}, "middle");
  check_reduce(expanded(random_tensor({70}, dtype, 6), {2000, 70}), {0}, "broadcast rows");
}

TEST(CpuBackend, ReduceSumIsAccurateOnLongFloat32Vectors) {
  // 0.1f added 2^22 times one by one in float drifts by about 10%; pairwise summation stays
  // within a few ulps of the exact sum.
  const int64_t n = int64_t{1} << 22;
  Tensor x = full({n}, 0.1);
  Tensor out = empty({1});
  cpu().reduce(ReduceOp::Sum, out, x, {0});
  const double exact = static_cast<double>(0.1f) * static_cast<double>(n);
  EXPECT_NEAR(out.item(), exact, exact * 1e-6);
}

TEST(CpuBackend, ReduceFloat64SumsAgreeWithReferenceTo1e10) {
  Tensor x = random_tensor({513, 257}, DType::Float64, 7);
  for (const std::vector<int>& axes : {std::vector<int>{0}, std::vector<int>{1}, std::vector<int>{0, 1}}) {
    Shape out_shape = x.shape();
    for (int axis : axes) out_shape[axis] = 1;
    Tensor out = empty(out_shape, options_for(DType::Float64));
    cpu().reduce(ReduceOp::Sum, out, x, axes);
    const std::vector<double> want = reference_reduce(ReduceOp::Sum, x, axes), got = values_of(out);
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-10);
  }
}

TEST(CpuBackend, ReduceSumsDoNotDependOnTheThreadCount) {
  // A full sum, a bias gradient (the sum over the rows of a logits gradient) and a few columns
  // over many rows: the cases that split the reduced axes into parts.
  const Tensor x = random_tensor({2048, 65}, DType::Float32, 8);
  const int threads = get_num_threads();
  for (const std::vector<int>& axes : {std::vector<int>{0}, std::vector<int>{0, 1}}) {
    for (const Tensor& input : {x, x.slice(1, 0, 5)}) {
      Shape out_shape = input.shape();
      for (int axis : axes) out_shape[axis] = 1;
      std::vector<Tensor> sums;
      for (const int n : {1, 2, 3, 7}) {
        set_num_threads(n);
        sums.push_back(empty(out_shape));
        cpu().reduce(ReduceOp::Sum, sums.back(), input, axes);
      }
      for (const Tensor& sum : sums) {
        EXPECT_EQ(std::memcmp(sum.raw_data(), sums[0].raw_data(), sum.nbytes()), 0)
            << input.describe() << " over " << axes.size() << " axes";
      }
    }
  }
  set_num_threads(threads);
}

TEST(CpuBackend, ReduceMaxPropagatesNaNAndRejectsEmptyAxes) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor x = from_vector<double>({1.0, nan, 3.0, 4.0}, {2, 2}, options_for(DType::Float64));
  Tensor out = empty({2, 1}, options_for(DType::Float64));
  cpu().reduce(ReduceOp::Max, out, x, {1});
  expect_values_near(out, {nan, 4.0}, 0.0);
  Tensor empty_input = empty({0, 3});
  Tensor empty_out = empty({1, 3});
  try {
    cpu().reduce(ReduceOp::Max, empty_out, empty_input, {0});
    FAIL() << "expected recur::Error";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("zero elements"));
  }
  cpu().reduce(ReduceOp::Sum, empty_out, empty_input, {0});
  expect_values_near(empty_out, {0, 0, 0}, 0.0);
}

TEST_P(CpuReduce, ArgmaxReturnsFirstMaximumOnTiesAlongEveryAxis) {
  const DType dtype = GetParam();
  // Small integers: many ties.
  Tensor x = reversed_layout({4, 5, 6}, dtype, 8);
  Tensor rounded = empty(x.shape(), options_for(dtype));
  cpu().unary(UnaryOp::Clamp, rounded, x, {-1.0, 1.0});
  cpu().unary(UnaryOp::GtScalar, rounded, rounded, {0.0});
  for (int axis = 0; axis < 3; ++axis) {
    Shape out_shape = x.shape();
    out_shape[axis] = 1;
    Tensor out = empty(out_shape, options_for(DType::Int64));
    cpu().argmax(out, rounded, axis);
    std::vector<double> want;
    for_each_index(out_shape, [&](const std::vector<int64_t>& index) {
      std::vector<int64_t> at = index;
      int64_t best = 0;
      double best_value = -INFINITY;
      for (int64_t i = 0; i < x.shape()[axis]; ++i) {
        at[axis] = i;
        if (element(rounded, at) > best_value) best_value = element(rounded, at), best = i;
      }
      want.push_back(static_cast<double>(best));
    });
    expect_values_near(out, want, 0.0, fmt::format("axis {}", axis));
  }
}

// softmax along `axis` computed directly in double.
std::vector<double> reference_softmax(const Tensor& x, int axis, SoftmaxKind kind) {
  const bool log = kind == SoftmaxKind::Log;
  std::vector<double> out(static_cast<size_t>(x.numel()));
  const Strides strides = contiguous_strides(x.shape());
  Shape lanes = x.shape();
  lanes[axis] = 1;
  for_each_index(lanes, [&](const std::vector<int64_t>& index) {
    std::vector<int64_t> at = index;
    double m = -INFINITY, s = 0.0;
    for (int64_t i = 0; i < x.shape()[axis]; ++i) at[axis] = i, m = std::max(m, element(x, at));
    for (int64_t i = 0; i < x.shape()[axis]; ++i) at[axis] = i, s += std::exp(element(x, at) - m);
    for (int64_t i = 0; i < x.shape()[axis]; ++i) {
      at[axis] = i;
      int64_t o = 0;
      for (size_t d = 0; d < at.size(); ++d) o += at[d] * strides[d];
      out[static_cast<size_t>(o)] = log ? element(x, at) - m - std::log(s) : std::exp(element(x, at) - m) / s;
    }
  });
  return out;
}

TEST_P(CpuReduce, SoftmaxMatchesReferenceAlongEveryAxis) {
  const DType dtype = GetParam();
  for (const Tensor& x : {random_tensor({3, 4, 5}, dtype, 9, 0.0, 3.0), reversed_layout({3, 4, 5}, dtype, 10)}) {
    for (int axis = 0; axis < 3; ++axis) {
      for (SoftmaxKind kind : {SoftmaxKind::Plain, SoftmaxKind::Log}) {
        Tensor y = empty(x.shape(), options_for(dtype));
        cpu().softmax(y, x, axis, kind);
        expect_values_near(y, reference_softmax(x, axis, kind), tolerance(dtype),
                           fmt::format("axis {} log {}", axis, kind == SoftmaxKind::Log));
      }
    }
  }
}

TEST_P(CpuReduce, SoftmaxIsStableForLargeLogits) {
  const DType dtype = GetParam();
  Tensor x = from_vector<double>({1000.0, 1001.0, 1002.0, -1000.0}, {1, 4}, options_for(dtype));
  Tensor y = empty({1, 4}, options_for(dtype));
  cpu().softmax(y, x, 1, SoftmaxKind::Plain);
  const double z = 1.0 + std::exp(-1.0) + std::exp(-2.0);
  expect_values_near(y, {std::exp(-2.0) / z, std::exp(-1.0) / z, 1.0 / z, 0.0}, tolerance(dtype));
  cpu().softmax(y, x, 1, SoftmaxKind::Log);
  expect_values_near(y, {-2.0 - std::log(z), -1.0 - std::log(z), -std::log(z), -2002.0 - std::log(z)},
                     tolerance(dtype));
}

TEST_P(CpuReduce, SoftmaxBackwardMatchesJacobianProduct) {
  const DType dtype = GetParam();
  const int64_t lanes = 3, length = 5;
  for (SoftmaxKind kind : {SoftmaxKind::Plain, SoftmaxKind::Log}) {
    const bool log = kind == SoftmaxKind::Log;
    for (int axis : {0, 1}) {
      const Shape shape = axis == 1 ? Shape{lanes, length} : Shape{length, lanes};
      Tensor x = random_tensor(shape, dtype, 11);
      Tensor dy = reversed_layout(shape, dtype, 12);
      Tensor y = empty(shape, options_for(dtype));
      cpu().softmax(y, x, axis, kind);
      Tensor dx = empty(shape, options_for(dtype));
      cpu().softmax_backward(dx, y, dy, axis, kind);
      // dx_i = sum_j J_ji dy_j with J_ji = d y_j / d x_i:
      //   softmax:     s_j (delta_ij - s_i);   log-softmax: delta_ij - s_i  (s = softmax(x)).
      const std::vector<double> s = reference_softmax(x, axis, SoftmaxKind::Plain);
      std::vector<double> want(s.size());
      const auto flat = [&](int64_t lane, int64_t i) { return axis == 1 ? lane * length + i : i * lanes + lane; };
      for (int64_t lane = 0; lane < lanes; ++lane) {
        for (int64_t i = 0; i < length; ++i) {
          double total = 0.0;
          for (int64_t j = 0; j < length; ++j) {
            const double delta = i == j ? 1.0 : 0.0;
            const double jacobian = log ? delta - s[flat(lane, i)] : s[flat(lane, j)] * (delta - s[flat(lane, i)]);
            const std::vector<int64_t> at = axis == 1 ? std::vector<int64_t>{lane, j} : std::vector<int64_t>{j, lane};
            total += jacobian * element(dy, at);
          }
          want[flat(lane, i)] = total;
        }
      }
      expect_values_near(dx, want, 10 * tolerance(dtype), fmt::format("log {} axis {}", log, axis));
    }
  }
}

TEST_P(CpuReduce, IndexSelectGathersAlongEveryAxis) {
  const DType dtype = GetParam();
  Tensor index = int64_tensor({2, 0, 2, 1}, {4});
  for (const Tensor& x : {random_tensor({3, 3, 3}, dtype, 13), reversed_layout({3, 3, 3}, dtype, 14)}) {
    for (int axis = 0; axis < 3; ++axis) {
      Shape shape = x.shape();
      shape[axis] = 4;
      Tensor out = empty(shape, options_for(dtype));
      cpu().index_select(out, x, axis, index);
      std::vector<double> want;
      for_each_index(shape, [&](const std::vector<int64_t>& i) {
        std::vector<int64_t> at = i;
        at[axis] = element(index, {i[axis]});
        want.push_back(element(x, at));
      });
      expect_values_near(out, want, 0.0, fmt::format("axis {}", axis));
    }
  }
}

TEST(CpuBackend, IndexSelectNamesTheOutOfRangeIndexAndAxisSize) {
  Tensor x = zeros({65, 4});
  Tensor out = empty({2, 4});
  Tensor index = int64_tensor({3, 70}, {2});
  try {
    cpu().index_select(out, x, 0, index);
    FAIL() << "expected recur::Error";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("index 70 is out of range for axis 0 of size 65"));
  }
  Tensor negative = int64_tensor({-1, 0}, {2});
  EXPECT_THROW(cpu().index_select(out, x, 0, negative), Error);
}

TEST_P(CpuReduce, IndexAddAccumulatesRepeatedIndices) {
  const DType dtype = GetParam();
  Tensor index = int64_tensor({1, 3, 1, 1, 0}, {5});
  for (int axis : {0, 1}) {
    const Shape out_shape = axis == 0 ? Shape{4, 600} : Shape{600, 4};  // 600 > one column block
    const Shape src_shape = axis == 0 ? Shape{5, 600} : Shape{600, 5};
    for (bool strided : {false, true}) {
      Tensor src = strided ? reversed_layout(src_shape, dtype, 15) : random_tensor(src_shape, dtype, 15);
      Tensor out = random_tensor(out_shape, dtype, 16);
      std::vector<double> want = values_of(out);
      const Strides out_strides = contiguous_strides(out_shape);
      for_each_index(src_shape, [&](const std::vector<int64_t>& i) {
        std::vector<int64_t> at = i;
        at[axis] = element(index, {i[axis]});
        want[static_cast<size_t>(at[0] * out_strides[0] + at[1] * out_strides[1])] += element(src, i);
      });
      cpu().index_add(out, axis, index, src);
      expect_values_near(out, want, tolerance(dtype), fmt::format("axis {} strided {}", axis, strided));
    }
  }
}

TEST(CpuBackend, IndexAddRejectsOutOfRangeIndices) {
  Tensor out = zeros({3, 2});
  Tensor src = zeros({1, 2});
  Tensor index = int64_tensor({3}, {1});
  try {
    cpu().index_add(out, 0, index, src);
    FAIL() << "expected recur::Error";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("index 3 is out of range for axis 0 of size 3"));
  }
}

}  // namespace
}  // namespace recur
