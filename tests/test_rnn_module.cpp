// The RNN module: options PyTorch lacks (gradchecked in float64), the fused path against the
// cell graph, canonical weights, the state dict, and bad input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/gradcheck.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "backends/threading.h"
#include "examples/rnn_case.h"
#include "nn/rnn.h"
#include "nn/rnn_cells.h"

namespace recur {
namespace {

using nn::RNNOptions;
using testing::HasSubstr;

TensorOptions f64() { return TensorOptions{}.with_dtype(DType::Float64); }

RNNOptions lstm(int64_t input, int64_t hidden) {
  RNNOptions o;
  o.mode = nn::RNNMode::LSTM;
  o.input_size = input;
  o.hidden_size = hidden;
  return o;
}

Tensor random(const Shape& shape, uint64_t seed, double scale = 1.0) {
  Generator g(seed);
  return rand(shape, f64(), &g, -scale, scale);
}

// Gradchecks the RNN's output and final state with respect to x, h0, c0 and every weight.
void expect_rnn_gradcheck(const RNNOptions& options, nn::RNNImpl impl = nn::RNNImpl::Cells,
                          const Tensor& lengths = Tensor(), double weight_scale = 0.6) {
  Generator init(3);
  nn::RNN rnn(options, &init);
  rnn.to(DType::Float64);
  {
    NoGradGuard no_grad;
    uint64_t seed = 100;
    for (auto& [name, p] : rnn.named_parameters()) p.copy_(random(p.shape(), seed++, weight_scale));
  }
  rnn.set_implementation(impl);
  const int64_t steps = 4, batch = 3;
  Tensor x = random({steps, batch, options.input_size}, 1).requires_grad_();
  Tensor h0 = random(rnn.state_shape(batch), 2, 0.5).requires_grad_();
  Tensor c0 =
      options.mode == nn::RNNMode::LSTM ? random(rnn.cell_state_shape(batch), 4, 0.5).requires_grad_() : Tensor();
  std::vector<Tensor> inputs{x, h0};
  if (c0.defined()) inputs.push_back(c0);
  for (const Tensor& p : rnn.parameters()) inputs.push_back(p);
  auto fn = [&](const std::vector<Tensor>& xs) {
    auto [y, state] = rnn.forward(xs[0], nn::RNNState{xs[1], c0.defined() ? xs[2] : Tensor()}, lengths);
    std::vector<Tensor> parts{reshape(y, {-1}), reshape(state.h, {-1})};
    if (state.c.defined()) parts.push_back(reshape(state.c, {-1}));
    return concat(parts, 0);
  };
  GradcheckResult result = gradcheck(fn, inputs);
  EXPECT_TRUE(result.ok) << result.report;
}

TEST(RnnGradcheck, LstmPeepholes) {
  RNNOptions o = lstm(3, 4);
  o.use_peepholes = true;
  expect_rnn_gradcheck(o);
}

TEST(RnnGradcheck, LstmCellClipActive) {
  RNNOptions o = lstm(3, 4);
  o.cell_clip = 0.35;  // small enough to clip some cells
  expect_rnn_gradcheck(o, nn::RNNImpl::Cells, Tensor(), 1.0);
}

TEST(RnnGradcheck, LstmProjectionWithProjClip) {
  RNNOptions o = lstm(3, 5);
  o.proj_size = 2;
  o.proj_clip = 0.3;
  expect_rnn_gradcheck(o, nn::RNNImpl::Cells, Tensor(), 1.0);
}

TEST(RnnGradcheck, LstmForgetBiasAndReluActivation) {
  RNNOptions o = lstm(3, 4);
  o.forget_bias = 1.0;
  o.activation = nn::Activation::Relu;
  expect_rnn_gradcheck(o);
}

TEST(RnnGradcheck, GruResetBeforeLinear) {
  RNNOptions o;
  o.mode = nn::RNNMode::GRU;
  o.input_size = 3;
  o.hidden_size = 4;
  o.gru_variant = nn::GRUVariant::ResetBeforeLinear;
  expect_rnn_gradcheck(o);
}

TEST(RnnGradcheck, SkipInputTwoLayersBidirectional) {
  for (nn::RNNMode mode : {nn::RNNMode::LSTM, nn::RNNMode::GRU, nn::RNNMode::RNN_TANH}) {
    RNNOptions o;
    o.mode = mode;
    o.input_size = 4;
    o.hidden_size = 4;
    o.num_layers = 2;
    o.direction = nn::Direction::Bidirectional;
    o.input_mode = nn::InputMode::SkipInput;
    expect_rnn_gradcheck(o, nn::RNNImpl::Cells);
    expect_rnn_gradcheck(o, nn::RNNImpl::Fused);
  }
}

TEST(RnnGradcheck, FusedLstmWithCellClipForgetBiasAndLengths) {
  RNNOptions o = lstm(3, 4);
  o.cell_clip = 0.4;
  o.forget_bias = 0.5;
  o.direction = nn::Direction::Bidirectional;
  Tensor lengths = from_vector<int64_t>({4, 2, 3}, {3}, TensorOptions{}.with_dtype(DType::Int64));
  expect_rnn_gradcheck(o, nn::RNNImpl::Fused, lengths, 1.0);
}

TEST(RnnGradcheck, FusedRnnReluAndGruWithLengths) {
  Tensor lengths = from_vector<int64_t>({1, 4, 2}, {3}, TensorOptions{}.with_dtype(DType::Int64));
  for (nn::RNNMode mode : {nn::RNNMode::RNN_RELU, nn::RNNMode::GRU}) {
    RNNOptions o;
    o.mode = mode;
    o.input_size = 3;
    o.hidden_size = 4;
    o.num_layers = 2;
    expect_rnn_gradcheck(o, nn::RNNImpl::Fused, lengths);
  }
}

// The fused path and the cell graph on the same weights, options beyond PyTorch's included.
TEST(RnnFused, MatchesCellGraphToRounding) {
  for (int variant = 0; variant < 3; ++variant) {
    RNNOptions o = lstm(5, 6);
    o.num_layers = 2;
    o.direction = nn::Direction::Bidirectional;
    if (variant == 1) o.forget_bias = 1.0, o.cell_clip = 0.5;
    if (variant == 2) o.proj_size = 3;
    nn::RNN rnn(o);
    rnn.to(DType::Float64);
    Tensor x = random({7, 2, 5}, 9);
    rnn.set_implementation(nn::RNNImpl::Cells);
    auto [y_cells, s_cells] = rnn.forward(x);
    rnn.set_implementation(nn::RNNImpl::Fused);
    auto [y_fused, s_fused] = rnn.forward(x);
    const auto a = y_cells.to_vector<double>(), b = y_fused.to_vector<double>();
    for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-13) << "variant " << variant;
    const auto c = s_cells.c.to_vector<double>(), d = s_fused.c.to_vector<double>();
    for (size_t i = 0; i < c.size(); ++i) ASSERT_NEAR(c[i], d[i], 1e-13);
  }
}

// batch x hidden = 64 x 512 reaches the fused layer's parallel gate loops (rnn_layer.cpp): two
// threads give one thread's output and gradients. The `tsan` preset runs this under
// ThreadSanitizer (docs/FUZZING.md).
TEST(RnnFused, ThreadTeamGivesTheOneThreadResult) {
  const int saved = get_num_threads();
  for (const nn::RNNMode mode : {nn::RNNMode::LSTM, nn::RNNMode::GRU}) {
    RNNOptions o = lstm(8, 512);
    o.mode = mode;
    Generator init(5);
    nn::RNN rnn(o, &init);
    rnn.to(DType::Float64);
    rnn.set_implementation(nn::RNNImpl::Fused);
    const Tensor x = random({3, 64, 8}, 6);
    const auto run = [&](int threads) {
      set_num_threads(threads);
      rnn.zero_grad();
      const Tensor input = x.detach().requires_grad_();
      auto [y, state] = rnn.forward(input);
      sum(mul(y, y)).backward();
      std::vector<double> values = y.to_vector<double>();
      for (const Tensor& t : {input.grad(), rnn.named_parameters()[1].second.grad()}) {  // weight_hh_l0
        const std::vector<double> more = t.to_vector<double>();
        values.insert(values.end(), more.begin(), more.end());
      }
      return values;
    };
    const std::vector<double> one = run(1), two = run(2);
    ASSERT_EQ(one.size(), two.size());
    for (size_t i = 0; i < one.size(); ++i) ASSERT_NEAR(one[i], two[i], 1e-12) << nn::mode_name(mode) << " at " << i;
  }
  set_num_threads(saved);
}

// In float32 with oneDNN's GEMMs the fused layer runs on the thread team (rnn_layer.cpp), whose
// threads meet through per-step flags rather than barriers: 2, 3 and 4 threads give one thread's
// output and gradients to float32's rounding, with hidden sizes that split unevenly (H = 200 on
// 3 threads: 80, 80, 40 units; H = 40 on 4 threads: the last thread owns none), both
// directions, two layers and sequences of different lengths.
TEST(RnnFused, Float32ThreadTeamGivesTheOneThreadResult) {
  const int saved = get_num_threads();
  const Tensor lengths = from_vector<int64_t>({7, 3, 1, 7, 5, 2}, {6}, TensorOptions{}.with_dtype(DType::Int64));
  for (const nn::RNNMode mode : {nn::RNNMode::LSTM, nn::RNNMode::GRU, nn::RNNMode::RNN_TANH}) {
    for (const int64_t hidden : {200, 40}) {
      RNNOptions o = lstm(5, hidden);
      o.mode = mode;
      o.num_layers = 2;
      o.direction = nn::Direction::Bidirectional;
      Generator init(7);
      nn::RNN rnn(o, &init);
      rnn.set_implementation(nn::RNNImpl::Fused);
      const Tensor x = random({7, 6, 5}, 8).to(DType::Float32);
      const auto run = [&](int threads) {
        set_num_threads(threads);
        rnn.zero_grad();
        const Tensor input = x.detach().requires_grad_();
        auto [y, state] = rnn.forward(input, {}, lengths);
        sum(mul(y, y)).backward();
        std::vector<float> values = y.to_vector<float>();
        std::vector<Tensor> all{input.grad()};
        for (const auto& [name, parameter] : rnn.named_parameters()) all.push_back(parameter.grad());
        for (const Tensor& t : all) {
          const std::vector<float> more = t.to_vector<float>();
          values.insert(values.end(), more.begin(), more.end());
        }
        return values;
      };
      const std::vector<float> one = run(1);
      for (const int threads : {2, 3, 4}) {
        const std::vector<float> many = run(threads);
        ASSERT_EQ(one.size(), many.size());
        for (size_t i = 0; i < one.size(); ++i) {
          ASSERT_NEAR(one[i], many[i], 2e-5f * (1.0f + std::fabs(one[i])))
              << nn::mode_name(mode) << ", H = " << hidden << ", " << threads << " threads, at " << i;
        }
      }
    }
  }
  set_num_threads(saved);
}

TEST(RnnModule, ImplementationFollowsOptions) {
  RNNOptions o = lstm(3, 4);
  EXPECT_EQ(nn::RNN(o).implementation(), nn::RNNImpl::Fused);
  o.use_peepholes = true;
  nn::RNN peep(o);
  EXPECT_EQ(peep.implementation(), nn::RNNImpl::Cells);
  peep.set_implementation(nn::RNNImpl::Fused);
  EXPECT_THROW(peep.implementation(), Error);
}

TEST(RnnModule, StateDictUsesPyTorchNames) {
  RNNOptions o = lstm(3, 4);
  o.num_layers = 2;
  o.direction = nn::Direction::Bidirectional;
  o.proj_size = 2;
  nn::RNN rnn(o);
  std::vector<std::string> names;
  for (const auto& [name, t] : rnn.state_dict()) names.push_back(name);
  EXPECT_THAT(names, testing::Contains("weight_ih_l0"));
  EXPECT_THAT(names, testing::Contains("weight_hh_l1_reverse"));
  EXPECT_THAT(names, testing::Contains("weight_hr_l1_reverse"));
  EXPECT_THAT(names, testing::Contains("bias_hh_l0"));
  EXPECT_EQ(rnn.state_dict().at("weight_ih_l1").shape(), (Shape{16, 4}));  // 2 directions x proj 2
  EXPECT_EQ(rnn.state_dict().at("weight_hh_l0").shape(), (Shape{16, 2}));
  EXPECT_EQ(rnn.state_dict().at("weight_hr_l0").shape(), (Shape{2, 4}));
}

TEST(RnnModule, WeightShapesWithoutBuildingAreTheModulesParameters) {
  std::vector<RNNOptions> cases;
  RNNOptions o = lstm(3, 4);
  o.num_layers = 2;
  o.direction = nn::Direction::Bidirectional;
  o.proj_size = 2;
  cases.push_back(o);
  o = lstm(4, 4);
  o.input_mode = nn::InputMode::SkipInput;
  o.use_peepholes = true;
  o.bias = false;
  cases.push_back(o);
  o = lstm(5, 3);
  o.mode = nn::RNNMode::GRU;
  o.num_layers = 3;
  cases.push_back(o);
  o.mode = nn::RNNMode::RNN_RELU;
  cases.push_back(o);
  for (const RNNOptions& options : cases) {
    std::vector<std::pair<std::string, Shape>> built, computed;
    for (const auto& [name, parameter] : nn::RNN(options).named_parameters())
      built.emplace_back(name, parameter.shape());
    for (const auto& [name, shape] : nn::rnn_weight_shapes(options)) computed.emplace_back(name, shape);
    EXPECT_EQ(computed, built) << nn::options_to_json(options);
  }
  o = lstm(3, int64_t{1} << 62);
  EXPECT_THAT([&] { (void)nn::rnn_weight_shapes(o); },
              testing::ThrowsMessage<Error>(HasSubstr("gates x hidden_size (4 x 4611686018427387904) overflows")));
}

TEST(RnnModule, ParametersAreViewsOfOneFlatBuffer) {
  RNNOptions o = lstm(3, 4);
  o.num_layers = 2;
  nn::RNN rnn(o);
  Tensor flat = rnn.flat_parameters();
  EXPECT_EQ(flat.numel(), rnn.params_size());
  EXPECT_EQ(rnn.params_size(), rnn.num_parameters());
  for (const Tensor& p : rnn.parameters()) EXPECT_EQ(p.storage(), flat.storage());
  rnn.to(DType::Float64);  // moves each weight; the next use flattens again
  Tensor flat64 = rnn.flat_parameters();
  EXPECT_EQ(flat64.dtype(), DType::Float64);
  for (const Tensor& p : rnn.parameters()) EXPECT_EQ(p.storage(), flat64.storage());
}

TEST(RnnModule, CanonicalRoundTrip) {
  RNNOptions o;
  o.mode = nn::RNNMode::GRU;
  o.input_size = 3;
  o.hidden_size = 4;
  o.num_layers = 2;
  o.direction = nn::Direction::Bidirectional;
  nn::RNN rnn(o);
  auto [weights, biases] = rnn.params_to_canonical(rnn.flat_parameters());
  ASSERT_EQ(weights.size(), rnn.canonical_weight_shapes().size());
  ASSERT_EQ(biases.size(), rnn.canonical_bias_shapes().size());
  EXPECT_EQ(weights.size(), 4u * 6u);            // 2 layers x 2 directions x (3 input + 3 recurrent)
  EXPECT_EQ(weights[1].shape(), (Shape{4, 3}));  // W_z of layer 0
  // W_z is rows [H, 2H) of weight_ih_l0.
  EXPECT_EQ(weights[1].at({2, 1}), rnn.state_dict().at("weight_ih_l0").at({6, 1}));
  Tensor params = rnn.canonical_to_params(weights, biases);
  EXPECT_EQ(params.to_vector<float>(), rnn.flat_parameters().to_vector<float>());
}

TEST(RnnModule, CellLoadsTheWeightsOfTheMatchingLayer) {
  RNNOptions o = lstm(3, 4);
  nn::RNN rnn(o);
  rnn.to(DType::Float64);
  nn::LSTMCell cell(3, 4);
  cell.to(DType::Float64);
  nn::StateDict layer0;
  for (const auto& [name, t] : rnn.state_dict()) layer0[name.substr(0, name.size() - 3)] = t;  // drop "_l0"
  cell.load_state_dict(layer0);
  Tensor x = random({5, 2, 3}, 4);
  auto [y, state] = rnn.forward(x);
  nn::CellState s;
  for (int64_t t = 0; t < 5; ++t) s = cell.forward(x.select(0, t), s);
  const auto a = s.h.to_vector<double>(), b = state.h.select(0, 0).to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-14);
}

TEST(RnnModule, OptionsRoundTripThroughJson) {
  RNNOptions o = lstm(3, 8);
  o.num_layers = 3;
  o.direction = nn::Direction::Bidirectional;
  o.proj_size = 4;
  o.dropout = 0.25;
  o.dropout_seed = 77;
  o.use_peepholes = true;
  o.cell_clip = 3.0;
  const std::string json = nn::options_to_json(o);
  const RNNOptions back = nn::options_from_json(json);
  EXPECT_EQ(nn::options_to_json(back), json);
  EXPECT_EQ(back.proj_size, 4);
  EXPECT_THROW(nn::options_from_json(R"({"mode": "lstm", "input_size": 3, "hidden_size": 4, "colour": 1})"), Error);
  // Integers must be JSON integers in range: a float or a wrapped negative is an error, not a cast.
  EXPECT_THAT([] { nn::options_from_json(R"({"mode": "gru", "input_size": 2, "hidden_size": 5.5e90})"); },
              testing::ThrowsMessage<Error>(
                  HasSubstr("RNN options: 'hidden_size': expected an integer in [-9223372036854775808, "
                            "9223372036854775807], got 5.5e+90")));
  EXPECT_THAT(
      [] { nn::options_from_json(R"({"mode": "gru", "input_size": 2, "hidden_size": 4, "dropout_seed": -1})"); },
      testing::ThrowsMessage<Error>(HasSubstr("'dropout_seed': expected an integer in [0, 18446744073709551615]")));
}

TEST(RnnModule, DropoutBetweenLayersOnlyInTraining) {
  RNNOptions o = lstm(3, 4);
  o.num_layers = 2;
  o.dropout = 0.5;
  nn::RNN rnn(o);
  Tensor x = random({4, 2, 3}, 5).to(DType::Float32);
  rnn.eval();
  auto [a, sa] = rnn.forward(x);
  auto [b, sb] = rnn.forward(x);
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  rnn.train();
  auto [c, sc] = rnn.forward(x);
  EXPECT_NE(a.to_vector<float>(), c.to_vector<float>());
}

TEST(RnnErrors, MessagesNameExpectedAndActual) {
  RNNOptions o = lstm(3, 4);
  nn::RNN rnn(o);
  auto expect_message = [](auto&& fn, const std::string& text) {
    try {
      fn();
      ADD_FAILURE() << "expected recur::Error containing '" << text << "'";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr(text));
    }
  };
  expect_message([&] { rnn.forward(zeros({5, 3})); }, "3 dimensions");
  expect_message([&] { rnn.forward(zeros({5, 2, 7})); }, "input has 7 features, the layer was built for input_size=3");
  expect_message([&] { rnn.forward(zeros({5, 2, 3}), nn::RNNState{zeros({1, 3, 4}), Tensor()}); }, "[1, 2, 4]");
  expect_message(
      [&] {
        rnn.forward(zeros({5, 2, 3}), {}, from_vector<int64_t>({5, 6}, {2}, TensorOptions{}.with_dtype(DType::Int64)));
      },
      "lengths[1] = 6 is out of range 1..5");
  expect_message(
      [&] {
        rnn.forward(zeros({5, 2, 3}), {}, from_vector<int64_t>({5}, {1}, TensorOptions{}.with_dtype(DType::Int64)));
      },
      "lengths must be int64 [2]");
  RNNOptions skip = lstm(3, 4);
  skip.input_mode = nn::InputMode::SkipInput;
  expect_message([&] { nn::RNN bad(skip); }, "skip_input needs input_size == hidden_size");
  RNNOptions gru_proj;
  gru_proj.mode = nn::RNNMode::GRU;
  gru_proj.input_size = 3;
  gru_proj.hidden_size = 4;
  gru_proj.proj_size = 2;
  expect_message([&] { nn::RNN bad(gru_proj); }, "only supported for LSTM");
  RNNOptions clip_only = lstm(3, 4);
  clip_only.proj_clip = 0.5;
  expect_message([&] { nn::RNN bad(clip_only); }, "proj_clip=0.5 needs proj_size > 0");
  // A GRU's state dict into an LSTM: every weight's shape is reported.
  RNNOptions gru = lstm(3, 4);
  gru.mode = nn::RNNMode::GRU;
  nn::RNN other(gru);
  expect_message([&] { rnn.load_state_dict(other.state_dict()); }, "weight_ih_l0");
}

}  // namespace
}  // namespace recur

namespace recur {
namespace {

TEST(RnnCase, MalformedCasesNameTheProblem) {
  nn::StateDict tensors;
  std::map<std::string, std::string> meta{{"mode", "gru"}, {"input_size", "3"}, {"hidden_size", "4"}};
  tensors["x"] = zeros({2, 1, 3}, f64());
  auto expect_message = [&](const std::string& text) {
    try {
      rnn_case::evaluate(tensors, meta);
      ADD_FAILURE() << "expected recur::Error containing '" << text << "'";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr(text));
    }
  };
  // Too few elements in all for the options' weights: refused before the module is built, so
  // that huge sizes are an error, not a huge allocation.
  expect_message(
      "a gru with input_size 3, hidden_size 4, num_layers 1 has 108 weight elements, but the case's "
      "tensors hold 6 in all: weights are missing");
  meta["hidden_size"] = "1000000000000";
  expect_message("hidden_size 1000000000000, num_layers 1 has 3000000000015");
  meta["hidden_size"] = "4";
  tensors["filler"] = zeros({200}, f64());
  expect_message("weight 'weight_ih_l0' is missing");
  tensors.erase("filler");
  nn::RNN gru(rnn_case::options(meta));
  gru.to(DType::Float64);
  for (const auto& [name, t] : gru.state_dict()) tensors[name] = t;
  expect_message("tensor 'dy' is missing");
  tensors["dy"] = zeros({2, 1, 5}, f64());
  expect_message("dy must be float64[2, 1, 4]");
  tensors["dy"] = zeros({2, 1, 4}, f64());
  EXPECT_NO_THROW(rnn_case::evaluate(tensors, meta));
  // The options beyond PyTorch's (TensorFlow's), under RNNOptions' names.
  meta["gru_variant"] = "reset_before_linear";
  EXPECT_EQ(rnn_case::options(meta).gru_variant, nn::GRUVariant::ResetBeforeLinear);
  meta["gru_variant"] = "reset_after";
  expect_message("unknown gru_variant 'reset_after'");
  meta.erase("gru_variant");
  meta["cell_clip"] = "0.5";
  expect_message("use_peepholes, cell_clip, forget_bias and activation are LSTM options");
  meta["mode"] = "lstm";
  meta["use_peepholes"] = "1";
  meta["forget_bias"] = "1.0";
  meta["activation"] = "relu";
  const nn::RNNOptions lstm_options = rnn_case::options(meta);
  EXPECT_TRUE(lstm_options.use_peepholes);
  EXPECT_EQ(lstm_options.cell_clip, 0.5);
  EXPECT_EQ(lstm_options.forget_bias, 1.0);
  EXPECT_EQ(lstm_options.activation, nn::Activation::Relu);
  meta["cell_clip"] = "nan";
  expect_message("metadata 'cell_clip' must be a finite number, got 'nan'");
  meta["cell_clip"] = "0.5";
  meta["proj_clip"] = "0.5";
  expect_message("proj_clip=0.5 needs proj_size > 0");
  for (const char* key : {"cell_clip", "proj_clip", "use_peepholes", "forget_bias", "activation"}) meta.erase(key);
  meta["mode"] = "gru";
  meta["hidden_size"] = "four";
  expect_message("'hidden_size' must be an integer, got 'four'");
  meta.erase("hidden_size");
  expect_message("metadata 'hidden_size' is missing");
}

TEST(RnnCase, MetadataReadsBackAsTheSameOptions) {
  nn::RNNOptions gru;
  gru.mode = nn::RNNMode::GRU;
  gru.input_size = 3;
  gru.hidden_size = 5;
  gru.num_layers = 2;
  gru.direction = nn::Direction::Bidirectional;
  gru.bias = false;
  gru.gru_variant = nn::GRUVariant::ResetBeforeLinear;
  nn::RNNOptions lstm;
  lstm.input_size = 4;
  lstm.hidden_size = 6;
  lstm.proj_size = 2;
  lstm.use_peepholes = true;
  lstm.cell_clip = 0.1;
  lstm.proj_clip = 2.5;
  lstm.forget_bias = 1.0 / 3.0;
  lstm.activation = nn::Activation::Relu;
  for (const nn::RNNOptions& options : {gru, lstm}) {
    options.validate();
    const rnn_case::Metadata metadata = rnn_case::metadata(options);
    EXPECT_EQ(nn::options_to_json(rnn_case::options(metadata)), nn::options_to_json(options));
  }
  // PyTorch's keys only, for options that need no more.
  nn::RNNOptions plain;
  plain.input_size = 2;
  plain.hidden_size = 3;
  EXPECT_EQ(rnn_case::metadata(plain).size(), 8u);
}

}  // namespace
}  // namespace recur

#include "backends/cpu/cpu_backend.h"

namespace recur {
namespace {

// The fused path allocates its buffers once per call: the number of allocations of a forward
// and backward pass does not grow with the number of time steps.
TEST(RnnFused, NoAllocationPerTimeStep) {
  for (nn::RNNMode mode : {nn::RNNMode::LSTM, nn::RNNMode::GRU, nn::RNNMode::RNN_TANH}) {
    nn::RNNOptions o;
    o.mode = mode;
    o.input_size = 8;
    o.hidden_size = 16;
    o.num_layers = 2;
    o.proj_size = mode == nn::RNNMode::LSTM ? 8 : 0;
    nn::RNN rnn(o);
    auto count = [&](int64_t steps) {
      Tensor x = randn({steps, 4, 8});
      x.requires_grad_();
      auto [y, state] = rnn.forward(x);  // warm-up
      sum(y).backward();
      const uint64_t before = cpu_backend().cpu_allocator().allocation_count();
      auto [y2, state2] = rnn.forward(x);
      Tensor loss = sum(y2);
      loss.backward();
      return cpu_backend().cpu_allocator().allocation_count() - before;
    };
    const uint64_t short_run = count(4), long_run = count(40);
    EXPECT_EQ(short_run, long_run) << nn::mode_name(mode) << ": allocations grow with the sequence length";
    EXPECT_GT(short_run, 0u);
  }
}

}  // namespace
}  // namespace recur
