// End-to-end training with the layers and losses and a hand-written SGD loop over
// Module::parameters() (no optim/ dependency): an MLP learns XOR, a linear model recovers known
// weights.
#include <gtest/gtest.h>

#include <memory>

#include "autograd/ops.h"
#include "nn/activation.h"
#include "nn/layers.h"
#include "nn/losses.h"
#include "nn/sequential.h"

namespace recur {
namespace {

TensorOptions f64() { return TensorOptions{}.with_dtype(DType::Float64); }

// p <- p - lr * dL/dp for every parameter, then the gradients are dropped.
void sgd_step(nn::Module& model, double learning_rate) {
  NoGradGuard no_grad;
  for (const Tensor& p : model.parameters()) {
    Tensor data = p.detach();
    data.copy_(data - p.grad() * learning_rate);
  }
  model.zero_grad();
}

TEST(Training, MlpLearnsXorWithBceWithLogits) {
  Generator generator(2024);
  const nn::LinearOptions options{.dtype = DType::Float64, .generator = &generator};
  nn::Sequential mlp({std::make_shared<nn::Linear>(2, 8, options), std::make_shared<nn::Tanh>(),
                      std::make_shared<nn::Linear>(8, 1, options)});
  Tensor x = from_vector<double>({0, 0, 0, 1, 1, 0, 1, 1}, {4, 2}, f64());
  Tensor y = from_vector<double>({0, 1, 1, 0}, {4, 1}, f64());
  double loss_value = 1.0;
  for (int step = 0; step < 3000 && loss_value >= 0.005; ++step) {
    Tensor loss = nn::binary_cross_entropy_with_logits(mlp.forward(x), y);
    loss_value = loss.item();
    loss.backward();
    sgd_step(mlp, 1.0);
  }
  EXPECT_LT(loss_value, 0.01);
  NoGradGuard no_grad;
  const std::vector<double> logits = mlp.forward(x).to_vector<double>();
  const std::vector<double> expected = y.to_vector<double>();
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(logits[i] > 0.0 ? 1.0 : 0.0, expected[i]) << "input " << i;
}

TEST(Training, LinearRegressionRecoversKnownWeights) {
  Generator generator(7);
  Tensor x = rand({64, 3}, f64(), &generator, -1.0, 1.0);
  Tensor true_weight = from_vector<double>({2.0, -3.0, 0.5}, {1, 3}, f64());
  Tensor y = linear(x, true_weight, full({1}, 1.25, f64()));  // y = x w^T + 1.25
  nn::Linear model(3, 1, {.dtype = DType::Float64, .generator = &generator});
  for (int step = 0; step < 1000; ++step) {
    nn::mse_loss(model.forward(x), y).backward();
    sgd_step(model, 0.5);
  }
  const std::vector<double> weight = model.weight.to_vector<double>();
  EXPECT_NEAR(weight[0], 2.0, 1e-3);
  EXPECT_NEAR(weight[1], -3.0, 1e-3);
  EXPECT_NEAR(weight[2], 0.5, 1e-3);
  EXPECT_NEAR(model.bias.item(), 1.25, 1e-3);
}

}  // namespace
}  // namespace recur
