// Float64 finite-difference gradient checks of what the op table (tests/test_backend_ops.cpp)
// does not cover: views and shape ops, non-contiguous and repeated operands, composite ops
// (linear, embedding, dropout, dtype round trips), and that the check catches a wrong backward.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "autograd/gradcheck.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "backends/compute.h"

namespace recur {
namespace {

TensorOptions f64() { return TensorOptions{}.with_dtype(DType::Float64); }

// A leaf with values in [low, high), requiring grad.
Tensor leaf(const Shape& shape, uint64_t seed, double low = -1.0, double high = 1.0) {
  Generator generator(seed);
  Tensor t = rand(shape, f64(), &generator, low, high);
  t.requires_grad_();
  return t;
}

void expect_gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs) {
  GradcheckResult result = gradcheck(fn, inputs);
  EXPECT_TRUE(result.ok) << result.report << "max abs error " << result.max_abs_error;
  EXPECT_GT(result.checked, 0);
}

using Xs = const std::vector<Tensor>&;

TEST(Gradcheck, ScalarOperators) {
  expect_gradcheck([](Xs x) { return (2.0 * x[0] + 1.0) / 3.0 - 0.5 * x[0] + (1.0 - x[0]); }, {leaf({4}, 10)});
  expect_gradcheck([](Xs x) { return 2.0 / x[0]; }, {leaf({4}, 10, 0.5, 2.0)});
}
TEST(Gradcheck, MatmulTransposedOperands) {
  expect_gradcheck([](Xs x) { return matmul(x[0].t(), x[1].t()); }, {leaf({4, 3}, 15), leaf({5, 4}, 16)});
}
TEST(Gradcheck, MatmulBatchedWithSharedMatrix) {
  expect_gradcheck([](Xs x) { return matmul(x[0], x[1]); }, {leaf({2, 3, 4}, 19), leaf({4, 2}, 20)});
}
TEST(Gradcheck, MatmulVector) {
  expect_gradcheck([](Xs x) { return matmul(x[0], x[1]); }, {leaf({3, 4}, 21), leaf({4}, 22)});
}
TEST(Gradcheck, Linear) {
  expect_gradcheck([](Xs x) { return linear(x[0], x[1], x[2]); },
                   {leaf({2, 3, 4}, 23), leaf({5, 4}, 24), leaf({5}, 25)});
}
TEST(Gradcheck, LinearWithoutBiasOnNonContiguousInput) {
  expect_gradcheck([](Xs x) { return linear(x[0].t(), x[1]); }, {leaf({4, 3}, 26), leaf({5, 4}, 27)});
}
TEST(Gradcheck, Transpose) {
  expect_gradcheck([](Xs x) { return matmul(x[0].transpose(0, 1), x[1]); }, {leaf({3, 2}, 28), leaf({3, 3}, 29)});
}
TEST(Gradcheck, Permute) {
  expect_gradcheck([](Xs x) { return x[0].permute({2, 0, 1}) * x[1]; }, {leaf({2, 3, 4}, 30), leaf({4, 2, 3}, 31)});
}
TEST(Gradcheck, Reshape) {
  expect_gradcheck([](Xs x) { return x[0].reshape({3, -1}) * x[1]; }, {leaf({2, 3, 2}, 32), leaf({3, 4}, 33)});
}
TEST(Gradcheck, ReshapeOfNonContiguousCopies) {
  expect_gradcheck([](Xs x) { return x[0].t().reshape({6}); }, {leaf({2, 3}, 34)});
}
TEST(Gradcheck, SliceWithStep) {
  expect_gradcheck([](Xs x) { return x[0].slice(1, 1, 6, 2) * 3.0; }, {leaf({2, 7}, 35)});
}
TEST(Gradcheck, NarrowAndSelect) {
  expect_gradcheck([](Xs x) { return x[0].narrow(0, 1, 2).select(1, -1); }, {leaf({4, 3}, 36)});
}
TEST(Gradcheck, ExpandSqueezeUnsqueeze) {
  expect_gradcheck(
      [](Xs x) {
        return x[0].unsqueeze(0).expand({3, 2, 4}).unsqueeze(-1).squeeze(-1) * x[1];
      },
      {leaf({2, 4}, 37), leaf({3, 2, 4}, 38)});
}
TEST(Gradcheck, Concat) {
  expect_gradcheck([](Xs x) { return concat({x[0], x[1].t(), x[0]}, 1); }, {leaf({3, 2}, 39), leaf({4, 3}, 40)});
}
TEST(Gradcheck, Stack) {
  expect_gradcheck([](Xs x) { return stack({x[0], x[1]}, 1); }, {leaf({3, 2}, 41), leaf({3, 2}, 42)});
}
TEST(Gradcheck, SplitAndChunk) {
  expect_gradcheck(
      [](Xs x) {
        auto parts = split(x[0], 2, 1);
        auto chunks = chunk(x[0], 3, 0);
        return parts[0] * parts[2].narrow(1, 0, 1) + chunks[1].narrow(1, 0, 2) * 2.0;
      },
      {leaf({3, 5}, 43)});
}
TEST(Gradcheck, SoftmaxOverFirstAxisOfTransposed) {
  expect_gradcheck([](Xs x) { return softmax(x[0].t(), 0); }, {leaf({3, 5}, 61)});
}
TEST(Gradcheck, EmbeddingWithPaddingIndex) {
  Tensor ids = from_vector<int64_t>({0, 3, 3, 1, 4, 0}, {2, 3}, TensorOptions{}.with_dtype(DType::Int64));
  expect_gradcheck([ids](Xs x) { return embedding(x[0], ids); }, {leaf({5, 3}, 64)});
  Tensor w = leaf({5, 3}, 65);
  Tensor loss = sum(embedding(w, ids, 3));
  loss.backward();
  for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(w.grad().at({3, j}), 0.0);  // padding row
  EXPECT_EQ(w.grad().at({0, 0}), 2.0);                                  // used twice
}
TEST(Gradcheck, Where) {
  Tensor cond = from_vector<double>({1, 0, 1, 0, 0, 1}, {2, 3}, f64());
  expect_gradcheck([cond](Xs x) { return where(cond, x[0], x[1]); }, {leaf({2, 3}, 66), leaf({1, 3}, 67)});
}
TEST(Gradcheck, DropoutWithFixedSeed) {
  expect_gradcheck(
      [](Xs x) {
        Generator generator(7);
        return dropout(x[0], 0.4, true, &generator);
      },
      {leaf({4, 5}, 68)});
}
TEST(Gradcheck, ContiguousAndClone) {
  expect_gradcheck([](Xs x) { return x[0].t().contiguous() * x[0].t().clone(); }, {leaf({3, 2}, 69)});
}
TEST(Gradcheck, ToDtypeRoundTrip) {
  GradcheckOptions loose;
  loose.eps = 1e-3;
  loose.rtol = 1e-3;
  loose.atol = 1e-4;
  GradcheckResult result =
      gradcheck([](Xs x) { return to_dtype(to_dtype(x[0], DType::Float32), DType::Float64); }, {leaf({4}, 70)}, loose);
  EXPECT_TRUE(result.ok) << result.report;
}
TEST(Gradcheck, DetectsAWrongGradient) {
  // A deliberately wrong backward must fail the check.
  auto wrong = [](Xs x) {
    Tensor y = compute::unary(UnaryOp::Exp, x[0]);
    return autograd::record("wrong_exp", {x[0]}, y,
                            [](const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0]}; });
  };
  EXPECT_FALSE(gradcheck(wrong, {leaf({3}, 71)}).ok);
}

}  // namespace
}  // namespace recur
