// Float64 finite-difference gradient checks of the layers, activations and every loss option.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "nn/activation.h"
#include "nn/layers.h"
#include "nn/losses.h"

namespace recur {
namespace {

using Xs = const std::vector<Tensor>&;
using nn::Reduction;

TensorOptions f64() { return TensorOptions{}.with_dtype(DType::Float64); }

Tensor leaf(const Shape& shape, uint64_t seed, double low = -1.0, double high = 1.0) {
  Generator generator(seed);
  Tensor t = rand(shape, f64(), &generator, low, high);
  t.requires_grad_();
  return t;
}

Tensor classes(const std::vector<int64_t>& values, const Shape& shape) {
  return from_vector<int64_t>(values, shape, TensorOptions{}.with_dtype(DType::Int64));
}

void expect_gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs) {
  GradcheckResult result = gradcheck(fn, inputs);
  EXPECT_TRUE(result.ok) << result.report << "max abs error " << result.max_abs_error;
  EXPECT_GT(result.checked, 0);
}

const Reduction kReductions[] = {Reduction::None, Reduction::Mean, Reduction::Sum};

// ---- layers ------------------------------------------------------------------------------------

TEST(NnGradcheck, LinearInputWeightAndBias) {
  Generator generator(1);
  nn::Linear layer(4, 3, {.dtype = DType::Float64, .generator = &generator});
  expect_gradcheck([&](Xs x) { return layer.forward(x[0]); }, {leaf({2, 5, 4}, 2), layer.weight, layer.bias});
}

// (A padding row gets no gradient by design, so the check runs without one; test_nn_modules.cpp
// covers padding.)
TEST(NnGradcheck, EmbeddingWeightWithRepeatedIndices) {
  Generator generator(3);
  nn::Embedding embedding(5, 3, {.dtype = DType::Float64, .generator = &generator});
  Tensor indices = classes({0, 1, 4, 4, 2, 1}, {2, 3});
  expect_gradcheck([&](Xs) { return embedding.forward(indices); }, {embedding.weight});
}

TEST(NnGradcheck, LayerNormOverOneAxis) {
  nn::LayerNorm norm({5}, {.dtype = DType::Float64});
  {
    NoGradGuard no_grad;
    norm.weight.copy_(rand({5}, f64(), nullptr, 0.5, 1.5));
    norm.bias.copy_(rand({5}, f64(), nullptr, -0.5, 0.5));
  }
  expect_gradcheck([&](Xs x) { return norm.forward(x[0]); }, {leaf({3, 5}, 4), norm.weight, norm.bias});
}

TEST(NnGradcheck, LayerNormOverTwoAxesWithoutAffine) {
  nn::LayerNorm norm({3, 4}, {.elementwise_affine = false, .dtype = DType::Float64});
  expect_gradcheck([&](Xs x) { return norm.forward(x[0]); }, {leaf({2, 3, 4}, 5)});
}

TEST(NnGradcheck, GeluAndSoftplus) {
  expect_gradcheck([](Xs x) { return nn::gelu(x[0]); }, {leaf({7}, 6, -3.0, 3.0)});
  expect_gradcheck([](Xs x) { return nn::softplus(x[0]); }, {leaf({7}, 7, -4.0, 4.0)});
}

// ---- classification losses ---------------------------------------------------------------------

struct CrossEntropyCase {
  Reduction reduction;
  int64_t ignore_index;
  double label_smoothing;
};

class CrossEntropyGradcheck : public testing::TestWithParam<CrossEntropyCase> {};

TEST_P(CrossEntropyGradcheck, MatchesFiniteDifferences) {
  const CrossEntropyCase c = GetParam();
  // Rows 1 and 4 hold the ignore index (-100 or class 2, which also makes row 3 ignored).
  const int64_t ig = c.ignore_index;
  Tensor target = classes({0, ig, 3, 2, ig, 1}, {6});
  nn::CrossEntropyOptions options{.ignore_index = ig, .label_smoothing = c.label_smoothing, .reduction = c.reduction};
  expect_gradcheck([&](Xs x) { return nn::cross_entropy(x[0], target, options); }, {leaf({6, 4}, 8, -2.0, 2.0)});
}

std::vector<CrossEntropyCase> cross_entropy_cases() {
  std::vector<CrossEntropyCase> cases;
  for (Reduction reduction : kReductions) {
    for (int64_t ignore_index : {int64_t{-100}, int64_t{2}}) {
      for (double smoothing : {0.0, 0.1, 1.0}) cases.push_back({reduction, ignore_index, smoothing});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllOptions, CrossEntropyGradcheck, testing::ValuesIn(cross_entropy_cases()));

TEST(NnGradcheck, CrossEntropyOnThreeDimensionalLogitsUsesTheLastAxis) {
  Tensor target = classes({0, 2, 1, 2, 0, 1}, {2, 3});
  expect_gradcheck([&](Xs x) { return nn::cross_entropy(x[0], target, {.label_smoothing = 0.2}); },
                   {leaf({2, 3, 3}, 9)});
}

TEST(NnGradcheck, CrossEntropyOnTransposedLogits) {
  Tensor target = classes({1, 0, 2}, {3});
  expect_gradcheck([&](Xs x) { return nn::cross_entropy(x[0].t(), target, {.reduction = Reduction::Sum}); },
                   {leaf({4, 3}, 10)});
}

TEST(NnGradcheck, NllLossEveryReductionAndIgnoreIndex) {
  Tensor target = classes({0, 3, -100, 2, 3}, {5});
  Tensor target_ignoring_3 = classes({0, 3, 1, 2, 3}, {5});
  for (Reduction reduction : kReductions) {
    expect_gradcheck([&](Xs x) { return nn::nll_loss(x[0], target, {.reduction = reduction}); }, {leaf({5, 4}, 11)});
    expect_gradcheck(
        [&](Xs x) { return nn::nll_loss(x[0], target_ignoring_3, {.ignore_index = 3, .reduction = reduction}); },
        {leaf({5, 4}, 12)});
  }
}

// ---- regression and binary losses --------------------------------------------------------------

TEST(NnGradcheck, MseLossEveryReductionBothInputs) {
  for (Reduction reduction : kReductions) {
    expect_gradcheck([&](Xs x) { return nn::mse_loss(x[0], x[1], reduction); }, {leaf({3, 4}, 13), leaf({3, 4}, 14)});
  }
}

TEST(NnGradcheck, BceWithLogitsEveryReductionLogitsAndTargets) {
  for (Reduction reduction : kReductions) {
    expect_gradcheck([&](Xs x) { return nn::binary_cross_entropy_with_logits(x[0], x[1], reduction); },
                     {leaf({4, 3}, 15, -4.0, 4.0), leaf({4, 3}, 16, 0.0, 1.0)});
  }
}

TEST(NnGradcheck, BceWithLogitsPosWeightEveryReduction) {
  Tensor pos_weight = from_vector<double>({0.5, 2.0, 3.5}, {3}, f64());
  for (Reduction reduction : kReductions) {
    expect_gradcheck([&](Xs x) { return nn::binary_cross_entropy_with_logits(x[0], x[1], reduction, pos_weight); },
                     {leaf({4, 3}, 17, -4.0, 4.0), leaf({4, 3}, 18, 0.0, 1.0)});
  }
}

}  // namespace
}  // namespace recur
