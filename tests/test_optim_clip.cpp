// Gradient clipping: norms against hand-computed values, scaling, and non-finite gradients.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "optim/clip.h"

namespace recur::optim {
namespace {

Tensor param_with_grad(const std::vector<double>& grad) {
  const TensorOptions f64 = TensorOptions{}.with_dtype(DType::Float64);
  Tensor p = zeros({static_cast<int64_t>(grad.size())}, f64);
  p.requires_grad_();
  p.set_grad(from_vector<double>(grad, {static_cast<int64_t>(grad.size())}, f64));
  return p;
}

TEST(ClipGradNorm, ReturnsTheTotalNormAndScalesDownAboveTheMaximum) {
  std::vector<Tensor> params = {param_with_grad({3, 4}), param_with_grad({12})};  // norm sqrt(9+16+144) = 13
  const ClipResult result = clip_grad_norm_detailed(params, 6.5);
  EXPECT_DOUBLE_EQ(result.norm, 13.0);
  EXPECT_TRUE(result.finite);
  EXPECT_TRUE(result.clipped);
  const double scale = 6.5 / (13.0 + 1e-6);
  EXPECT_DOUBLE_EQ(params[0].grad().at({0}), 3 * scale);
  EXPECT_DOUBLE_EQ(params[0].grad().at({1}), 4 * scale);
  EXPECT_DOUBLE_EQ(params[1].grad().at({0}), 12 * scale);
}

TEST(ClipGradNorm, LeavesGradientsBelowTheMaximumUnchanged) {
  std::vector<Tensor> params = {param_with_grad({3, 4})};
  EXPECT_DOUBLE_EQ(clip_grad_norm_(params, 5.5), 5.0);
  EXPECT_EQ(params[0].grad().at({0}), 3.0);
  EXPECT_FALSE(clip_grad_norm_detailed(params, 100.0).clipped);
}

TEST(ClipGradNorm, OneAndInfinityNorms) {
  std::vector<Tensor> params = {param_with_grad({3, -4}), param_with_grad({-12})};
  EXPECT_DOUBLE_EQ(clip_grad_norm_(params, 1e9, 1.0), 19.0);
  EXPECT_DOUBLE_EQ(clip_grad_norm_(params, 1e9, std::numeric_limits<double>::infinity()), 12.0);
  EXPECT_NEAR(clip_grad_norm_(params, 1e9, 3.0), std::cbrt(27.0 + 64.0 + 1728.0), 1e-12);
}

TEST(ClipGradNorm, NonFiniteNormIsReportedAndTheGradientsAreLeftAlone) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  std::vector<Tensor> params = {param_with_grad({3, nan}), param_with_grad({12})};
  const ClipResult result = clip_grad_norm_detailed(params, 1.0);
  EXPECT_TRUE(std::isnan(result.norm));
  EXPECT_FALSE(result.finite);
  EXPECT_FALSE(result.clipped);
  EXPECT_EQ(params[0].grad().at({0}), 3.0);
  EXPECT_EQ(params[1].grad().at({0}), 12.0);

  std::vector<Tensor> overflow = {param_with_grad({inf, 1})};
  EXPECT_TRUE(std::isinf(clip_grad_norm_(overflow, 1.0)));
  EXPECT_EQ(overflow[0].grad().at({1}), 1.0);
  EXPECT_TRUE(std::isnan(clip_grad_norm_(params, 1.0, inf)));  // NaN wins over the max
}

TEST(ClipGradNorm, SkipsParametersWithoutAGradientAndWorksOnFloat32) {
  Tensor no_grad = zeros({2});
  Tensor p = zeros({2});
  p.requires_grad_();
  p.set_grad(from_vector<float>({6, 8}, {2}));
  std::vector<Tensor> params = {no_grad, p};
  EXPECT_DOUBLE_EQ(clip_grad_norm_(params, 5.0), 10.0);
  EXPECT_NEAR(p.grad().at({0}), 3.0, 1e-6);
  EXPECT_NEAR(p.grad().at({1}), 4.0, 1e-6);
}

TEST(ClipGradNorm, LargeGradientsGiveTheSameNormOnAnyThreadCount) {
  Tensor p = zeros({100000}, TensorOptions{}.with_dtype(DType::Float64));
  p.requires_grad_();
  Generator generator(3);
  p.set_grad(randn({100000}, TensorOptions{}.with_dtype(DType::Float64), &generator));
  const double norm = clip_grad_norm_({p}, 1e9);
  double sum = 0;
  for (double g : p.grad().to_vector<double>()) sum += g * g;
  EXPECT_NEAR(norm, std::sqrt(sum), 1e-9);
}

TEST(ClipGradNorm, RejectsABadNormType) {
  EXPECT_THAT([] { clip_grad_norm_({}, 1.0, 0.0); },
              testing::ThrowsMessage<Error>(testing::HasSubstr("norm_type 0, expected > 0")));
}

TEST(ClipGradValue, ClampsEveryElementIntoTheRange) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<Tensor> params = {param_with_grad({-3, 0.5, 2, nan})};
  clip_grad_value_(params, 1.0);
  const std::vector<double> g = params[0].grad().to_vector<double>();
  EXPECT_EQ(g[0], -1.0);
  EXPECT_EQ(g[1], 0.5);
  EXPECT_EQ(g[2], 1.0);
  EXPECT_TRUE(std::isnan(g[3]));
}

TEST(ClipGradValue, WorksOnAStridedGradient) {
  Tensor p = zeros({2, 2});
  p.requires_grad_();
  p.set_grad(from_vector<float>({5, -5, 0.25, 7}, {2, 2}).t());
  clip_grad_value_({p}, 2.0);
  EXPECT_EQ(p.grad().contiguous().to_vector<float>(), (std::vector<float>{2, 0.25, -2, 2}));
}

}  // namespace
}  // namespace recur::optim
