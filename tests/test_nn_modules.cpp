// nn::Module's registry (names, state dicts, modes, placement) and the basic layers'
// construction: options, validation and seeded initialisation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "autograd/ops.h"
#include "nn/activation.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "nn/sequential.h"

namespace recur {
namespace {

using testing::HasSubstr;
using testing::Not;

TensorOptions f64() { return TensorOptions{}.with_dtype(DType::Float64); }

// scale [3], body = Linear(2, 3) -> Tanh -> Linear(3, 1), a step-count buffer.
class Net : public nn::Module {
 public:
  explicit Net(uint64_t seed) {
    Generator generator(seed);
    scale = register_parameter("scale", ones({3}));
    body = register_module("body", std::make_shared<nn::Sequential>());
    body->push_back(std::make_shared<nn::Linear>(2, 3, nn::LinearOptions{.generator = &generator}));
    body->push_back(std::make_shared<nn::Tanh>());
    body->push_back(std::make_shared<nn::Linear>(3, 1, nn::LinearOptions{.generator = &generator}));
    steps = register_buffer("steps", zeros({1}, TensorOptions{}.with_dtype(DType::Int64)));
  }
  std::string name() const override { return "Net"; }
  Tensor scale;
  std::shared_ptr<nn::Sequential> body;
  Tensor steps;
};

std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor>>& named) {
  std::vector<std::string> names;
  for (const auto& [name, _] : named) names.push_back(name);
  return names;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// ---- registration ------------------------------------------------------------------------------

TEST(Module, NamesAreDottedPathsInRegistrationOrderOwnTensorsFirst) {
  Net net(1);
  EXPECT_EQ(names_of(net.named_parameters()),
            (std::vector<std::string>{"scale", "body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias"}));
  EXPECT_EQ(names_of(net.named_buffers()), std::vector<std::string>{"steps"});
  EXPECT_EQ(net.children().size(), 1u);
  EXPECT_EQ(net.body->size(), 3u);
  for (const Tensor& p : net.parameters()) EXPECT_TRUE(p.requires_grad());
  EXPECT_FALSE(net.steps.requires_grad());
}

TEST(Module, RegisteringATakenOrDottedNameIsAnError) {
  Net net(1);
  EXPECT_THAT(error_of([&] { net.register_parameter("scale", ones({1})); }), HasSubstr("already taken"));
  EXPECT_THAT(error_of([&] { net.register_buffer("body", ones({1})); }), HasSubstr("already taken"));
  EXPECT_THAT(error_of([&] { net.register_parameter("a.b", ones({1})); }), HasSubstr("must not contain '.'"));
  EXPECT_THAT(error_of([&] { net.register_parameter("", ones({1})); }), HasSubstr("empty name"));
  EXPECT_THAT(error_of([&] { net.register_parameter("ints", zeros({1}, TensorOptions{}.with_dtype(DType::Int64))); }),
              HasSubstr("floating point"));
}

TEST(Module, NumParametersCountsEveryElementOnce) {
  Net net(1);
  EXPECT_EQ(net.num_parameters(), 3 + (2 * 3 + 3) + (3 * 1 + 1));
}

TEST(Module, TiedWeightIsOneParameterButTwoStateDictEntries) {
  class Tied : public nn::Module {
   public:
    Tied() {
      shared = register_parameter("encoder", ones({4, 2}));
      register_parameter("decoder", shared);
    }
    Tensor shared;
  } tied;
  EXPECT_EQ(tied.parameters().size(), 1u);
  EXPECT_EQ(tied.num_parameters(), 8);
  const nn::StateDict state = tied.state_dict();
  EXPECT_EQ(state.size(), 2u);
  EXPECT_TRUE(state.count("encoder") && state.count("decoder"));
}

TEST(Module, DescribePrintsTheTreeLikePyTorch) {
  Net net(1);
  EXPECT_EQ(net.describe(),
            "Net(\n"
            "  (body): Sequential(\n"
            "    (0): Linear(in_features=2, out_features=3, bias=true)\n"
            "    (1): Tanh()\n"
            "    (2): Linear(in_features=3, out_features=1, bias=true)\n"
            "  )\n"
            ")");
}

// ---- state dicts -------------------------------------------------------------------------------

TEST(Module, StateDictRoundTripCopiesValuesAndKeepsIdentity) {
  Net source(1), target(2);
  const Tensor weight_before = target.body->operator[](0)->parameters()[0];
  EXPECT_NE(source.named_parameters()[1].second.to_vector<float>(), weight_before.to_vector<float>());
  {
    NoGradGuard no_grad;
    source.steps.fill_(7.0);
  }
  target.load_state_dict(source.state_dict());
  for (const auto& [name, tensor] : source.state_dict()) {
    EXPECT_EQ(tensor.to_vector<double>(), target.state_dict().at(name).to_vector<double>()) << name;
  }
  // The same TensorImpl: an optimizer holding the old handles sees the loaded values.
  EXPECT_TRUE(target.body->operator[](0)->parameters()[0].same(weight_before));
  EXPECT_EQ(weight_before.to_vector<float>(), source.named_parameters()[1].second.to_vector<float>());
  EXPECT_EQ(target.steps.at({0}), 7.0);
}

TEST(Module, LoadingItsOwnStateDictChangesNothing) {
  Net net(1);
  const std::vector<float> before = net.named_parameters()[1].second.to_vector<float>();
  net.load_state_dict(net.state_dict());
  EXPECT_EQ(net.named_parameters()[1].second.to_vector<float>(), before);
}

TEST(Module, StateDictTensorsAreDetachedViewsOfTheParameters) {
  Net net(1);
  const nn::StateDict state = net.state_dict();
  EXPECT_EQ(state.size(), 6u);
  EXPECT_FALSE(state.at("scale").requires_grad());
  EXPECT_EQ(state.at("scale").storage(), net.scale.storage());
}

TEST(Module, LoadStateDictReportsEveryProblemInOneError) {
  Net net(1);
  nn::StateDict state = net.state_dict();
  state.erase("body.2.bias");
  state.erase("steps");
  state["foo"] = zeros({1});
  state["body.0.weight"] = zeros({4, 2});
  state["scale"] = zeros({3}, f64());
  const std::string message = error_of([&] { net.load_state_dict(state); });
  EXPECT_THAT(message, HasSubstr("load_state_dict: missing keys: [body.2.bias, steps]"));
  EXPECT_THAT(message, HasSubstr("unexpected keys: [foo]"));
  EXPECT_THAT(message, HasSubstr("shape mismatch: body.0.weight expected [3, 2], got [4, 2]"));
  EXPECT_THAT(message, HasSubstr("dtype mismatch: scale expected float32, got float64"));
}

TEST(Module, FailedLoadChangesNothing) {
  Net net(1), other(2);
  nn::StateDict state = other.state_dict();
  state["foo"] = zeros({1});
  const std::vector<float> before = net.named_parameters()[1].second.to_vector<float>();
  EXPECT_THROW(net.load_state_dict(state), Error);
  EXPECT_EQ(net.named_parameters()[1].second.to_vector<float>(), before);
}

TEST(Module, NonStrictLoadIgnoresMissingAndUnexpectedKeysButNotShapes) {
  Net net(1), other(2);
  nn::StateDict state = other.state_dict();
  state.erase("scale");
  state["foo"] = zeros({1});
  net.load_state_dict(state, /*strict=*/false);
  EXPECT_EQ(net.named_parameters()[1].second.to_vector<float>(), other.named_parameters()[1].second.to_vector<float>());
  state["body.2.weight"] = zeros({2, 3});
  EXPECT_THAT(error_of([&] { net.load_state_dict(state, false); }),
              testing::AllOf(HasSubstr("shape mismatch: body.2.weight expected [1, 3], got [2, 3]"),
                             Not(HasSubstr("unexpected"))));
}

// ---- modes and placement -----------------------------------------------------------------------

TEST(Module, TrainAndEvalReachEveryDescendant) {
  Net net(1);
  EXPECT_TRUE(net.is_training());
  net.eval();
  EXPECT_FALSE(net.is_training());
  EXPECT_FALSE(net.body->is_training());
  EXPECT_FALSE(net.body->operator[](1)->is_training());
  net.train();
  EXPECT_TRUE(net.body->operator[](2)->is_training());
}

TEST(Module, ToDtypeConvertsInPlaceSoHeldHandlesSeeFloat64) {
  Net net(1);
  auto first = std::dynamic_pointer_cast<nn::Linear>(net.body->operator[](0));
  const Tensor held = first->weight;
  const std::vector<float> values = held.to_vector<float>();
  net.to(DType::Float64);
  EXPECT_EQ(held.dtype(), DType::Float64);
  EXPECT_EQ(first->weight.dtype(), DType::Float64);
  EXPECT_TRUE(held.requires_grad());
  EXPECT_EQ(net.steps.dtype(), DType::Int64);  // integer buffers keep their dtype
  const std::vector<double> converted = held.to_vector<double>();
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(converted[i], static_cast<double>(values[i]));
  Tensor y = net.body->forward(ones({4, 2}, f64()));
  EXPECT_EQ(y.dtype(), DType::Float64);
}

TEST(Module, ToDtypeConvertsGradientsToo) {
  nn::Linear layer(2, 2);
  sum(layer.forward(ones({1, 2}))).backward();
  layer.to(DType::Float64);
  EXPECT_EQ(layer.weight.grad().dtype(), DType::Float64);
}

TEST(Module, ZeroGradLeavesGradientsUndefined) {
  Net net(1);
  sum(net.body->forward(ones({5, 2})) * 2.0).backward();
  for (const Tensor& p : net.body->parameters()) EXPECT_TRUE(p.grad().defined());
  net.zero_grad();
  for (const Tensor& p : net.parameters()) EXPECT_FALSE(p.grad().defined());
}

// ---- layers ------------------------------------------------------------------------------------

TEST(Linear, SameGeneratorSeedGivesSameWeights) {
  Generator a(42), b(42), c(43);
  nn::Linear first(5, 4, {.generator = &a}), second(5, 4, {.generator = &b}), third(5, 4, {.generator = &c});
  EXPECT_EQ(first.weight.to_vector<float>(), second.weight.to_vector<float>());
  EXPECT_EQ(first.bias.to_vector<float>(), second.bias.to_vector<float>());
  EXPECT_NE(first.weight.to_vector<float>(), third.weight.to_vector<float>());
}

TEST(Linear, ManualSeedMakesDefaultInitialisationRepeatable) {
  manual_seed(9);
  nn::Linear first(3, 3);
  manual_seed(9);
  nn::Linear second(3, 3);
  EXPECT_EQ(first.weight.to_vector<float>(), second.weight.to_vector<float>());
}

TEST(Linear, InitialisationStaysWithinOneOverSqrtFanIn) {
  Generator generator(3);
  nn::Linear layer(64, 32, {.dtype = DType::Float64, .generator = &generator});
  const double bound = 1.0 / std::sqrt(64.0);
  double max_abs = 0.0;
  for (double w : layer.weight.to_vector<double>()) max_abs = std::max(max_abs, std::abs(w));
  for (double b : layer.bias.to_vector<double>()) EXPECT_LE(std::abs(b), bound);
  EXPECT_LE(max_abs, bound);
  EXPECT_GT(max_abs, 0.9 * bound);  // 2048 draws come close to the bound
  EXPECT_EQ(layer.weight.shape(), (Shape{32, 64}));
}

TEST(Linear, WithoutBiasRegistersOnlyTheWeight) {
  nn::Linear layer(3, 2, {.bias = false});
  EXPECT_FALSE(layer.bias.defined());
  EXPECT_EQ(names_of(layer.named_parameters()), std::vector<std::string>{"weight"});
  EXPECT_EQ(layer.forward(ones({4, 3})).shape(), (Shape{4, 2}));
}

TEST(Linear, WrongFeatureCountNamesBothSizes) {
  nn::Linear layer(3, 2);
  EXPECT_THAT(error_of([&] { layer.forward(ones({4, 5})); }), HasSubstr("has 5 features"));
  EXPECT_THAT(error_of([&] { layer.forward(ones({4, 5})); }), HasSubstr("in_features=3"));
}

TEST(Layers, ConstructorsRejectInvalidOptions) {
  EXPECT_THAT(error_of([] { nn::Linear(0, 3); }), HasSubstr("in_features=0"));
  EXPECT_THAT(error_of([] { nn::Linear(2, 3, {.dtype = DType::Int64}); }), HasSubstr("floating point"));
  EXPECT_THAT(error_of([] { nn::Embedding(10, 4, {.padding_idx = 10}); }), HasSubstr("padding_idx"));
  EXPECT_THAT(error_of([] { nn::Embedding(10, -1); }), HasSubstr("embedding_dim=-1"));
  EXPECT_THAT(error_of([] { nn::Dropout(1.5); }), HasSubstr("got 1.5"));
  EXPECT_THAT(error_of([] { nn::LayerNorm(Shape{}); }), HasSubstr("at least one dimension"));
  EXPECT_THAT(error_of([] { nn::LayerNorm({4}, {.eps = -1.0}); }), HasSubstr("eps"));
}

TEST(Embedding, PaddingRowStartsAtZeroAndGetsNoGradient) {
  Generator generator(5);
  nn::Embedding embedding(6, 3, {.padding_idx = 2, .dtype = DType::Float64, .generator = &generator});
  for (int64_t d = 0; d < 3; ++d) EXPECT_EQ(embedding.weight.at({2, d}), 0.0);
  EXPECT_NE(embedding.weight.at({1, 0}), 0.0);
  Tensor indices = from_vector<int64_t>({2, 1, 2, 5}, {2, 2}, TensorOptions{}.with_dtype(DType::Int64));
  Tensor y = embedding.forward(indices);
  EXPECT_EQ(y.shape(), (Shape{2, 2, 3}));
  sum(y).backward();
  EXPECT_EQ(embedding.weight.grad().at({2, 0}), 0.0);
  EXPECT_EQ(embedding.weight.grad().at({1, 0}), 1.0);
  EXPECT_EQ(embedding.weight.grad().at({5, 2}), 1.0);
}

TEST(Embedding, FloatIndicesAreAnError) {
  nn::Embedding embedding(6, 3);
  EXPECT_THAT(error_of([&] { embedding.forward(zeros({2})); }), HasSubstr("indices must be int64"));
}

TEST(Dropout, SeededLayersDrawTheSameMasksAndEvalIsIdentity) {
  nn::Dropout first(0.5, 11), second(0.5, 11);
  Tensor x = ones({64});
  const std::vector<float> mask = first.forward(x).to_vector<float>();
  EXPECT_EQ(mask, second.forward(x).to_vector<float>());
  int zeros_seen = 0;
  for (float m : mask) {
    EXPECT_TRUE(m == 0.0f || m == 2.0f);
    zeros_seen += m == 0.0f;
  }
  EXPECT_GT(zeros_seen, 10);
  EXPECT_LT(zeros_seen, 54);
  first.set_seed(11);
  EXPECT_EQ(first.forward(x).to_vector<float>(), mask);
  first.eval();
  EXPECT_EQ(first.forward(x).to_vector<float>(), x.to_vector<float>());
}

TEST(LayerNorm, NormalisesEachRowToZeroMeanAndUnitVariance) {
  Generator generator(8);
  Tensor x = rand({4, 6}, f64(), &generator, -3.0, 5.0);
  nn::LayerNorm norm({6}, {.eps = 0.0, .dtype = DType::Float64});
  Tensor y = norm.forward(x);
  for (int64_t row = 0; row < 4; ++row) {
    double total = 0.0, squares = 0.0;
    for (int64_t col = 0; col < 6; ++col) {
      total += y.at({row, col});
      squares += y.at({row, col}) * y.at({row, col});
    }
    EXPECT_NEAR(total / 6.0, 0.0, 1e-12);
    EXPECT_NEAR(squares / 6.0, 1.0, 1e-12);
  }
  EXPECT_THAT(error_of([&] { norm.forward(ones({4, 5}, f64())); }), HasSubstr("must end with the normalized shape"));
}

TEST(Activations, GeluUsesTheTanhApproximationAndSoftplusIsStable) {
  Tensor x = from_vector<double>({-30.0, -1.0, 0.0, 1.0, 2.5, 40.0}, {6}, f64());
  const std::vector<double> xs = x.to_vector<double>(), gelu = nn::gelu(x).to_vector<double>();
  const std::vector<double> softplus = nn::softplus(x).to_vector<double>();
  for (size_t i = 0; i < xs.size(); ++i) {
    const double v = xs[i];
    const double expected_gelu = 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
    EXPECT_NEAR(gelu[i], expected_gelu, 1e-14) << v;
    EXPECT_NEAR(softplus[i], std::max(v, 0.0) + std::log1p(std::exp(-std::abs(v))), 1e-14) << v;
  }
}

TEST(Sequential, ChainsModulesAndRejectsBadIndex) {
  Generator generator(1);
  nn::Sequential mlp({std::make_shared<nn::Linear>(2, 4, nn::LinearOptions{.generator = &generator}),
                      std::make_shared<nn::ReLU>(),
                      std::make_shared<nn::Linear>(4, 3, nn::LinearOptions{.generator = &generator})});
  EXPECT_EQ(mlp.forward(ones({5, 2})).shape(), (Shape{5, 3}));
  EXPECT_THAT(error_of([&] { mlp[3]; }), HasSubstr("index 3 is out of range for 3 modules"));
}

}  // namespace
}  // namespace recur
