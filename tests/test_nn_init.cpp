// nn::init: fans, gains, bounds and statistics of the seeded initializers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "nn/init.h"

namespace recur {
namespace {

using namespace nn::init;
using testing::HasSubstr;

TensorOptions f64() { return TensorOptions{}.with_dtype(DType::Float64); }

struct Stats {
  double mean = 0.0, std = 0.0, max_abs = 0.0;
};

Stats stats_of(const Tensor& t) {
  const std::vector<double> values = t.to_vector<double>();
  Stats s;
  for (double v : values) s.mean += v;
  s.mean /= static_cast<double>(values.size());
  for (double v : values) {
    s.std += (v - s.mean) * (v - s.mean);
    s.max_abs = std::max(s.max_abs, std::abs(v));
  }
  s.std = std::sqrt(s.std / static_cast<double>(values.size()));
  return s;
}

TEST(Init, FansFollowPyTorchIncludingReceptiveField) {
  EXPECT_EQ(calculate_fan_in_and_fan_out(zeros({8, 3})), (std::pair<int64_t, int64_t>{3, 8}));
  EXPECT_EQ(calculate_fan_in_and_fan_out(zeros({8, 3, 5, 2})), (std::pair<int64_t, int64_t>{30, 80}));
  try {
    calculate_fan_in_and_fan_out(zeros({8}));
    FAIL() << "expected recur::Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("at least 2 dimensions"));
  }
}

TEST(Init, GainsMatchPyTorch) {
  EXPECT_DOUBLE_EQ(calculate_gain(Nonlinearity::Linear), 1.0);
  EXPECT_DOUBLE_EQ(calculate_gain(Nonlinearity::Tanh), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(calculate_gain(Nonlinearity::Relu), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(calculate_gain(Nonlinearity::LeakyRelu, std::sqrt(5.0)), std::sqrt(1.0 / 3.0));
  EXPECT_DOUBLE_EQ(calculate_gain(Nonlinearity::Selu), 0.75);
}

TEST(Init, XavierUniformStaysWithinItsBoundWithUniformStd) {
  Generator generator(1);
  Tensor w = empty({200, 300}, f64());
  xavier_uniform_(w, 2.0, &generator);
  const double bound = 2.0 * std::sqrt(6.0 / 500.0);
  const Stats s = stats_of(w);
  EXPECT_LE(s.max_abs, bound);
  EXPECT_GT(s.max_abs, 0.99 * bound);
  EXPECT_NEAR(s.std, bound / std::sqrt(3.0), 0.01 * bound);
  EXPECT_NEAR(s.mean, 0.0, 0.01 * bound);
}

TEST(Init, XavierAndKaimingNormalHaveTheirStd) {
  Generator generator(2);
  Tensor w = empty({256, 128}, f64());
  xavier_normal_(w, 1.0, &generator);
  EXPECT_NEAR(stats_of(w).std, std::sqrt(2.0 / 384.0), 0.02 * std::sqrt(2.0 / 384.0));
  kaiming_normal_(w, 0.0, FanMode::FanOut, Nonlinearity::Relu, &generator);
  EXPECT_NEAR(stats_of(w).std, std::sqrt(2.0 / 256.0), 0.02 * std::sqrt(2.0 / 256.0));
}

TEST(Init, KaimingUniformWithSqrt5IsOneOverSqrtFanIn) {
  Generator generator(3);
  Tensor w = empty({100, 49}, f64());
  kaiming_uniform_(w, std::sqrt(5.0), FanMode::FanIn, Nonlinearity::LeakyRelu, &generator);
  const Stats s = stats_of(w);
  EXPECT_LE(s.max_abs, 1.0 / 7.0);
  EXPECT_GT(s.max_abs, 0.99 / 7.0);
}

TEST(Init, SameGeneratorStateGivesSameValuesInEveryDtype) {
  Generator a(4), b(4);
  Tensor x = empty({5, 5}), y = empty({5, 5});
  normal_(x, 1.0, 2.0, &a);
  normal_(y, 1.0, 2.0, &b);
  EXPECT_EQ(x.to_vector<float>(), y.to_vector<float>());
  uniform_(x, -1.0, 1.0, &a);
  EXPECT_NE(x.to_vector<float>(), y.to_vector<float>());
}

TEST(Init, ConstantsAndWritesKeepTheTensorsIdentityAndGradFlag) {
  Tensor w = zeros({3, 2});
  w.requires_grad_();
  const auto impl = w.impl_ptr();
  constant_(w, 2.5);
  EXPECT_EQ(w.to_vector<float>(), std::vector<float>(6, 2.5f));
  ones_(w);
  EXPECT_EQ(w.at({2, 1}), 1.0);
  zeros_(w);
  EXPECT_EQ(w.at({0, 0}), 0.0);
  Generator generator(5);
  uniform_(w, 3.0, 4.0, &generator);
  EXPECT_GE(w.at({1, 1}), 3.0);
  EXPECT_TRUE(w.impl_ptr() == impl);
  EXPECT_TRUE(w.requires_grad());
  EXPECT_TRUE(w.is_leaf());
}

// Q^T Q (columns orthonormal) or Q Q^T (rows orthonormal) against the identity.
double orthonormality_error(const Tensor& q, double gain, bool rows) {
  const int64_t r = q.size(0), c = q.numel() / q.size(0);
  const std::vector<double> v = q.to_vector<double>();
  const int64_t n = rows ? r : c, len = rows ? c : r;
  double worst = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double dot = 0.0;
      for (int64_t k = 0; k < len; ++k) {
        const double a = rows ? v[static_cast<size_t>(i * c + k)] : v[static_cast<size_t>(k * c + i)];
        const double b = rows ? v[static_cast<size_t>(j * c + k)] : v[static_cast<size_t>(k * c + j)];
        dot += a * b;
      }
      worst = std::max(worst, std::abs(dot / (gain * gain) - (i == j ? 1.0 : 0.0)));
    }
  }
  return worst;
}

TEST(Init, OrthogonalTallMatrixHasOrthonormalColumns) {
  Generator generator(6);
  Tensor q = empty({40, 12}, f64());
  orthogonal_(q, 1.0, &generator);
  EXPECT_LT(orthonormality_error(q, 1.0, /*rows=*/false), 1e-12);
}

TEST(Init, OrthogonalWideMatrixHasOrthonormalRowsScaledByGain) {
  Generator generator(7);
  Tensor q = empty({12, 40}, f64());
  orthogonal_(q, 2.0, &generator);
  EXPECT_LT(orthonormality_error(q, 2.0, /*rows=*/true), 1e-12);
}

TEST(Init, OrthogonalSquareFloat32AndHigherRank) {
  Generator generator(8);
  Tensor square = empty({16, 16});
  orthogonal_(square, 1.0, &generator);
  EXPECT_LT(orthonormality_error(square, 1.0, false), 1e-6);
  EXPECT_LT(orthonormality_error(square, 1.0, true), 1e-6);
  Tensor kernel = empty({4, 3, 2}, f64());  // flattened to [4, 6]: orthonormal rows
  orthogonal_(kernel, 1.0, &generator);
  EXPECT_LT(orthonormality_error(kernel, 1.0, true), 1e-12);
}

TEST(Init, InvalidArgumentsAreErrors) {
  Tensor w = empty({3, 3});
  EXPECT_THROW(uniform_(w, 1.0, 0.0), Error);
  EXPECT_THROW(normal_(w, 0.0, -1.0), Error);
  Tensor ints = zeros({3, 3}, TensorOptions{}.with_dtype(DType::Int64));
  EXPECT_THROW(zeros_(ints), Error);
  Tensor vector = empty({3});
  EXPECT_THROW(orthogonal_(vector), Error);
}

}  // namespace
}  // namespace recur
