// Losses: PyTorch parity from the golden file tests/fixtures/losses.safetensors (made by
// tests/fixtures/losses.py), and the argument checks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "autograd/ops.h"
#include "nn/losses.h"
#include "nn/safetensors.h"

namespace recur {
namespace {

using nn::Reduction;
using testing::HasSubstr;

TensorOptions f64() { return TensorOptions{}.with_dtype(DType::Float64); }
Tensor classes(const std::vector<int64_t>& values) {
  return from_vector<int64_t>(values, {static_cast<int64_t>(values.size())}, TensorOptions{}.with_dtype(DType::Int64));
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// ---- parity with PyTorch ------------------------------------------------------------------------

Reduction parse_reduction(const std::string& name) {
  if (name == "none") return Reduction::None;
  if (name == "sum") return Reduction::Sum;
  return Reduction::Mean;
}

// |got - expected| <= tol * (1 + |expected|), element by element.
void expect_close(const Tensor& got, const Tensor& expected, double tol, const std::string& what) {
  ASSERT_TRUE(got.defined()) << what << " is undefined";
  ASSERT_EQ(got.shape(), expected.shape()) << what;
  EXPECT_EQ(got.dtype(), expected.dtype()) << what;
  const std::vector<double> a = got.to_vector<double>(), b = expected.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_LE(std::abs(a[i] - b[i]), tol * (1.0 + std::abs(b[i])))
        << what << " element " << i << ": got " << a[i] << ", PyTorch " << b[i];
  }
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  for (std::string part; std::getline(stream, part, ',');) parts.push_back(part);
  return parts;
}

TEST(LossParity, EveryCaseMatchesPyTorchInFloat64AndFloat32) {
  const nn::SafetensorsFile golden = nn::load_safetensors(std::string(RECUR_TEST_FIXTURES) + "/losses.safetensors");
  const auto& meta = golden.metadata;
  const std::vector<std::string> cases = split_commas(meta.at("cases"));
  ASSERT_GE(cases.size(), 20u);
  int checked = 0;
  for (const std::string& name : cases) {
    const std::string kind = meta.at(name + ".kind");
    const Reduction reduction = parse_reduction(meta.at(name + ".reduction"));
    const int64_t ignore_index = std::stoll(meta.at(name + ".ignore_index"));
    const double label_smoothing = std::stod(meta.at(name + ".label_smoothing"));
    for (const auto& [suffix, tol] : {std::pair<std::string, double>{"f64", 1e-12}, {"f32", 1e-6}}) {
      const std::string key = name + "_" + suffix;
      SCOPED_TRACE(key);
      auto tensor = [&](const std::string& field) {
        auto found = golden.tensors.find(key + "." + field);
        return found == golden.tensors.end() ? Tensor() : found->second;
      };
      const bool classification = kind == "cross_entropy" || kind == "nll_loss";
      Tensor input = (classification ? tensor("logits") : tensor("input")).clone().detach();
      Tensor target = tensor("target").clone().detach();
      input.requires_grad_();
      if (!classification) target.requires_grad_();
      Tensor loss;
      if (kind == "cross_entropy") {
        loss = nn::cross_entropy(input, target, {ignore_index, label_smoothing, reduction});
      } else if (kind == "nll_loss") {
        loss = nn::nll_loss(input, target, {ignore_index, reduction});
      } else if (kind == "mse_loss") {
        loss = nn::mse_loss(input, target, reduction);
      } else {
        loss = nn::binary_cross_entropy_with_logits(input, target, reduction, tensor("pos_weight"));
      }
      expect_close(loss, tensor("loss"), tol, "loss");
      sum(loss).backward();
      expect_close(input.grad(), tensor("grad"), tol, "grad");
      if (tensor("target_grad").defined()) expect_close(target.grad(), tensor("target_grad"), tol, "target_grad");
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2 * static_cast<int>(cases.size()));
}

// ---- semantics ----------------------------------------------------------------------------------

TEST(Losses, CrossEntropyOfUniformLogitsIsLogC) {
  Tensor logits = zeros({3, 8}, f64());
  EXPECT_NEAR(nn::cross_entropy(logits, classes({0, 5, 7})).item(), std::log(8.0), 1e-15);
}

TEST(Losses, CrossEntropyMeanWithEveryRowIgnoredIsNaNLikePyTorch) {
  Tensor logits = zeros({2, 3}, f64());
  EXPECT_TRUE(std::isnan(nn::cross_entropy(logits, classes({-100, -100})).item()));
  EXPECT_EQ(nn::cross_entropy(logits, classes({-100, -100}), {.reduction = Reduction::Sum}).item(), 0.0);
}

TEST(Losses, CrossEntropyNoneKeepsTheTargetShape) {
  Tensor logits = zeros({2, 3, 4}, f64());
  Tensor target = from_vector<int64_t>({0, 1, 2, 3, 0, 1}, {2, 3}, TensorOptions{}.with_dtype(DType::Int64));
  EXPECT_EQ(nn::cross_entropy(logits, target, {.reduction = Reduction::None}).shape(), (Shape{2, 3}));
}

TEST(Losses, CrossEntropyTargetOutOfRangeNamesTargetAndClassCount) {
  Tensor logits = zeros({2, 65});
  auto error = [&](const Tensor& target) { return error_of([&] { nn::cross_entropy(logits, target); }); };
  EXPECT_THAT(error(classes({3, 70})), HasSubstr("cross_entropy: target 70 is out of range for 65 classes"));
  EXPECT_THAT(error(classes({-1, 0})), HasSubstr("target -1 is out of range"));
}

TEST(Losses, ClassificationLossesCheckTargetShapeAndDtype) {
  auto error = [](const Tensor& logits, const Tensor& target, nn::CrossEntropyOptions options = {}) {
    return error_of([&] { nn::cross_entropy(logits, target, options); });
  };
  Tensor logits = zeros({4, 5}), ints = zeros({4, 5}, TensorOptions{}.with_dtype(DType::Int64));
  EXPECT_THAT(error(logits, classes({1, 2, 3})), HasSubstr("target has shape [3], expected [4]"));
  EXPECT_THAT(error_of([&] { nn::nll_loss(logits, zeros({4})); }), HasSubstr("target must be int64"));
  EXPECT_THAT(error(ints, classes({1, 2, 3, 4})), HasSubstr("logits must be float32 or float64"));
  EXPECT_THAT(error(logits, classes({1, 2, 3, 4}), {.label_smoothing = 1.5}),
              HasSubstr("label_smoothing must be in [0, 1], got 1.5"));
}

TEST(Losses, MseAndBceCheckShapes) {
  auto bce_error = [](const Tensor& target, const Tensor& pos_weight) {
    return error_of([&] { nn::binary_cross_entropy_with_logits(zeros({2, 3}), target, Reduction::Mean, pos_weight); });
  };
  EXPECT_THAT(error_of([] { nn::mse_loss(zeros({2, 3}), zeros({3, 2})); }), HasSubstr("same shape and dtype"));
  EXPECT_THAT(bce_error(zeros({2}), Tensor()), HasSubstr("must have the logits' shape"));
  EXPECT_THAT(bce_error(zeros({2, 3}), zeros({2})), HasSubstr("pos_weight float32[2]"));
}

TEST(Losses, BceWithLogitsIsStableForLargeLogits) {
  Tensor logits = from_vector<double>({-800.0, 800.0, 0.0}, {3}, f64());
  Tensor target = from_vector<double>({1.0, 0.0, 1.0}, {3}, f64());
  const std::vector<double> loss =
      nn::binary_cross_entropy_with_logits(logits, target, Reduction::None).to_vector<double>();
  EXPECT_DOUBLE_EQ(loss[0], 800.0);
  EXPECT_DOUBLE_EQ(loss[1], 800.0);
  EXPECT_NEAR(loss[2], std::log(2.0), 1e-15);
}

}  // namespace
}  // namespace recur
