// Trains a two-layer perceptron on XOR with recur's autograd and a hand-written gradient step:
//
//   hidden = tanh(x @ w1 + b1)            x [4, 2], w1 [2, H], b1 [H]
//   p      = sigmoid(hidden @ w2 + b2)    w2 [H, 1], b2 [1]
//   loss   = -mean(y log p + (1 - y) log(1 - p))
//   w     -= learning_rate * dloss/dw     for every parameter
//
// H = hidden size.
#include <fmt/format.h>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <vector>

#include "autograd/ops.h"
#include "core/tensor.h"

int main() try {
  using namespace recur;
  constexpr int64_t kHiddenSize = 8;
  constexpr double kLearningRate = 0.5;
  constexpr int kSteps = 2000;

  Generator generator(/*seed=*/42);
  const Tensor x = from_vector<float>({0, 0, 0, 1, 1, 0, 1, 1}, {4, 2});
  const Tensor y = from_vector<float>({0, 1, 1, 0}, {4, 1});

  Tensor w1 = randn({2, kHiddenSize}, {}, &generator);
  Tensor b1 = zeros({kHiddenSize});
  Tensor w2 = randn({kHiddenSize, 1}, {}, &generator);
  Tensor b2 = zeros({1});
  const std::vector<Tensor> parameters = {w1, b1, w2, b2};  // handles: they share the tensors
  for (Tensor parameter : parameters) parameter.requires_grad_();

  auto forward = [&] { return sigmoid(matmul(tanh(matmul(x, w1) + b1), w2) + b2); };

  for (int step = 0; step <= kSteps; ++step) {
    const Tensor p = clamp(forward(), 1e-6, 1.0 - 1e-6);
    const Tensor loss = -mean(y * log(p) + (1.0 - y) * log(1.0 - p));
    if (step % 200 == 0) fmt::print("step {:4d}  loss {:.6f}\n", step, loss.item());
    if (step == kSteps) break;
    loss.backward();

    NoGradGuard no_grad;  // the update itself is not part of any graph
    for (Tensor parameter : parameters) {
      parameter.copy_(parameter - kLearningRate * parameter.grad());
      parameter.set_grad(Tensor());
    }
  }

  NoGradGuard no_grad;
  const std::vector<float> predictions = forward().to_vector<float>();
  for (int64_t row = 0; row < 4; ++row) {
    fmt::print("{} xor {} -> {:.3f} (target {})\n", x.at({row, 0}), x.at({row, 1}), predictions[row], y.at({row, 0}));
  }
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "error: {}\n", e.what());
  return 1;
}
