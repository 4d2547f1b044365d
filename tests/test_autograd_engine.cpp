// The autograd engine: accumulation, graph freeing, deep graphs, error messages.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>

#include "autograd/node.h"
#include "autograd/ops.h"

namespace recur {
namespace {

using testing::HasSubstr;

TensorOptions f64() { return TensorOptions{}.with_dtype(DType::Float64); }

Tensor scalar_leaf(double value) {
  Tensor t = full({}, value, f64());
  t.requires_grad_();
  return t;
}

TEST(Autograd, DiamondGraphAccumulatesBothPaths) {
  Tensor x = scalar_leaf(3.0);
  Tensor y = x * x + x * 2.0;  // dy/dx = 2x + 2 = 8
  y.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 8.0);
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCalls) {
  Tensor x = scalar_leaf(2.0);
  (x * 3.0).backward();
  (x * 4.0).backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 7.0);
}

TEST(Autograd, SameTensorUsedTwiceAsBothOperands) {
  Tensor x = scalar_leaf(5.0);
  (x + x).backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 2.0);
}

TEST(Autograd, BackwardTwiceThroughFreedGraphIsAnError) {
  Tensor x = scalar_leaf(1.0);
  Tensor y = exp(x) * 2.0;
  y.backward();
  try {
    y.backward();
    FAIL() << "expected recur::Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("a second time"));
    EXPECT_THAT(e.what(), HasSubstr("retain_graph"));
  }
}

TEST(Autograd, RetainGraphAllowsASecondBackward) {
  Tensor x = scalar_leaf(0.5);
  Tensor y = tanh(x);
  y.backward(Tensor(), true);
  y.backward();
  const double t = std::tanh(0.5);
  EXPECT_NEAR(x.grad().item(), 2.0 * (1.0 - t * t), 1e-15);
}

TEST(Autograd, BackwardOnTensorWithoutGradIsAnError) {
  Tensor x = full({2}, 1.0, f64());
  Tensor y = sum(x * 2.0);
  try {
    y.backward();
    FAIL() << "expected recur::Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("does not require grad"));
  }
}

TEST(Autograd, NonScalarBackwardNeedsAnExplicitGradient) {
  Tensor x = full({2, 3}, 1.0, f64());
  x.requires_grad_();
  Tensor y = x * 2.0;
  try {
    y.backward();
    FAIL() << "expected recur::Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("non-scalar"));
    EXPECT_THAT(e.what(), HasSubstr("[2, 3]"));
  }
  y.backward(full({2, 3}, 0.5, f64()));
  EXPECT_DOUBLE_EQ(x.grad().at({1, 2}), 1.0);
}

TEST(Autograd, WrongShapedUpstreamGradientIsAnError) {
  Tensor x = full({2, 3}, 1.0, f64());
  x.requires_grad_();
  Tensor y = x * 2.0;
  EXPECT_THROW(y.backward(full({3, 2}, 1.0, f64())), Error);
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor x = scalar_leaf(1.0);
  Tensor y;
  {
    NoGradGuard guard;
    y = x * 2.0;
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(grad_enabled());
}

TEST(Autograd, DetachCutsTheGraph) {
  Tensor x = scalar_leaf(2.0);
  Tensor y = (x * x).detach() * x;  // only the last factor carries gradient: d/dx = x^2 = 4
  y.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 4.0);
}

TEST(Autograd, GradFunctionLeavesDotGradUntouched) {
  Tensor x = scalar_leaf(3.0);
  Tensor y = x * x * x;
  std::vector<Tensor> g = autograd::grad({y}, {x}, {Tensor()});
  EXPECT_DOUBLE_EQ(g[0].item(), 27.0);
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, GradWithRespectToAnIntermediate) {
  Tensor x = scalar_leaf(3.0);
  Tensor h = x * 2.0;
  Tensor y = h * h;
  std::vector<Tensor> g = autograd::grad({y}, {h}, {Tensor()});
  EXPECT_DOUBLE_EQ(g[0].item(), 12.0);
}

TEST(Autograd, DeepChainBackwardAndFreeDoNotRecurse) {
  // 200k nodes deep: a recursive walk or destructor chain would overflow the stack.
  Tensor x = scalar_leaf(1.0);
  Tensor h = x;
  for (int i = 0; i < 200000; ++i) h = h * 1.0;
  h.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 1.0);
  h = Tensor();  // releases the whole chain
}

// Dropping the last handle of a 200000-node chain frees every node (without a recursive
// destructor that would overflow the stack): the first and a middle node are gone after.
TEST(Autograd, DeepChainFreedWithoutBackward) {
  Tensor x = scalar_leaf(1.0);
  Tensor h = x + 0.0;
  const std::weak_ptr<autograd::Node> first = h.grad_fn();
  std::weak_ptr<autograd::Node> middle;
  for (int i = 0; i < 200000; ++i) {
    h = h + 0.0;
    if (i == 100000) middle = h.grad_fn();
  }
  ASSERT_FALSE(first.expired());
  ASSERT_FALSE(middle.expired());
  h = Tensor();
  EXPECT_TRUE(first.expired());
  EXPECT_TRUE(middle.expired());
}

TEST(Autograd, RequiresGradOnIntegerTensorIsAnError) {
  Tensor i = zeros({3}, TensorOptions{}.with_dtype(DType::Int64));
  EXPECT_THROW(i.requires_grad_(), Error);
}

TEST(Autograd, ViewsOfLeavesPropagateGradients) {
  Tensor x = full({2, 3}, 1.0, f64());
  x.requires_grad_();
  Tensor y = sum(x.t().select(0, 1) * 5.0);
  y.backward();
  EXPECT_DOUBLE_EQ(x.grad().at({0, 1}), 5.0);
  EXPECT_DOUBLE_EQ(x.grad().at({1, 1}), 5.0);
  EXPECT_DOUBLE_EQ(x.grad().at({0, 0}), 0.0);
}

TEST(TensorErrors, MessagesNameShapes) {
  Tensor a = zeros({2, 3}), b = zeros({4, 5});
  try {
    matmul(a, b);
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("[2, 3]"));
    EXPECT_THAT(e.what(), HasSubstr("[4, 5]"));
  }
  try {
    a + zeros({3, 2});
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("broadcast"));
  }
  EXPECT_THROW(a.reshape({4, 2}), Error);
  EXPECT_THROW(a.select(0, 2), Error);
  EXPECT_THROW(a.narrow(1, 2, 2), Error);
  EXPECT_THROW(a.permute({0, 0}), Error);
  EXPECT_THROW(a.squeeze(0), Error);
  EXPECT_THROW(a + zeros({2, 3}, TensorOptions{}.with_dtype(DType::Float64)), Error);
}

TEST(TensorErrors, EmbeddingIndexOutOfRangeNamesIndex) {
  Tensor w = zeros({5, 2});
  Tensor ids = from_vector<int64_t>({1, 7}, {2}, TensorOptions{}.with_dtype(DType::Int64));
  try {
    embedding(w, ids);
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("7"));
  }
}

}  // namespace
}  // namespace recur
