// Optimizers: every update rule against PyTorch 1.13 (tests/fixtures/optim.safetensors, made by
// make_fixtures.py), state dicts and resuming bit for bit, options and error messages.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "backends/threading.h"
#include "nn/safetensors.h"
#include "optim/adagrad.h"
#include "optim/adam.h"
#include "optim/rmsprop.h"
#include "optim/schedulers.h"
#include "optim/sgd.h"

namespace recur::optim {
namespace {

using json = nlohmann::json;
using testing::HasSubstr;

const nn::SafetensorsFile& fixtures() {
  static const nn::SafetensorsFile file = nn::load_safetensors(RECUR_TEST_FIXTURES "/optim.safetensors");
  return file;
}

// An optimizer from a fixture's JSON spec: {"optimizer": "Adam", "lr": 0.01, "beta1": ...}.
std::unique_ptr<Optimizer> make_optimizer(const json& spec, std::vector<Tensor> params) {
  ParamGroup group(std::move(params));
  for (const auto& [key, value] : spec.items()) {
    if (key == "optimizer") continue;
    if (key == "lr") {
      group.lr = value.get<double>();
    } else if (key == "weight_decay") {
      group.weight_decay = value.get<double>();
    } else {
      group.options[key] = value.get<double>();
    }
  }
  const std::string kind = spec.at("optimizer").get<std::string>();
  std::vector<ParamGroup> groups{std::move(group)};
  if (kind == "SGD") return std::make_unique<SGD>(std::move(groups));
  if (kind == "Adam") return std::make_unique<Adam>(std::move(groups));
  if (kind == "AdamW") return std::make_unique<AdamW>(std::move(groups));
  if (kind == "RMSprop") return std::make_unique<RMSprop>(std::move(groups));
  if (kind == "Adagrad") return std::make_unique<Adagrad>(std::move(groups));
  throw Error("unknown optimizer " + kind);
}

Tensor leaf_copy(const Tensor& t) {
  Tensor copy = t.clone().detach();
  copy.requires_grad_();
  return copy;
}

// ---- against PyTorch --------------------------------------------------------------------

const std::vector<std::string> kCases = {"sgd_plain",
                                         "sgd_momentum_nesterov_wd",
                                         "sgd_momentum_dampening",
                                         "adam",
                                         "adam_amsgrad_wd",
                                         "adamw",
                                         "adamw_amsgrad",
                                         "rmsprop",
                                         "rmsprop_centered_momentum",
                                         "adagrad_lr_decay"};

TEST(OptimFixtures, HoldEveryCaseTheTestsRun) {
  std::vector<std::string> names;
  for (const auto& [name, value] : fixtures().metadata) names.push_back(name);
  std::vector<std::string> expected = kCases;
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(names, expected);
}

class OptimizerMatchesPyTorch : public testing::TestWithParam<std::tuple<std::string, std::string>> {};

// float64: within 1e-12 (absolute; the values are of order 1). float32: within 1e-6 relative to
// the tensor's largest value (norm-wise: an element near 0 that came from cancelling terms, such
// as AdamW's decayed p plus its update, carries the rounding of those terms, not of itself).
TEST_P(OptimizerMatchesPyTorch, FiveStepsOfTwoParameters) {
  const auto& [case_name, dtype_tag] = GetParam();
  const nn::StateDict& t = fixtures().tensors;
  const std::string prefix = case_name + "." + dtype_tag + ".";
  std::vector<Tensor> params;
  for (int i = 0; i < 2; ++i) params.push_back(leaf_copy(t.at(fmt::format("{}p{}.initial", prefix, i))));
  std::unique_ptr<Optimizer> optimizer = make_optimizer(json::parse(fixtures().metadata.at(case_name)), params);
  const bool f64 = dtype_tag == "f64";
  for (int k = 1; k <= 5; ++k) {
    for (int i = 0; i < 2; ++i) params[i].set_grad(t.at(fmt::format("{}p{}.grad{}", prefix, i, k)).clone());
    optimizer->step();
    for (int i = 0; i < 2; ++i) {
      const std::vector<double> got = params[i].to_vector<double>();
      const std::vector<double> want = t.at(fmt::format("{}p{}.step{}", prefix, i, k)).to_vector<double>();
      ASSERT_EQ(got.size(), want.size());
      double scale = 0;
      for (const double w : want) scale = std::max(scale, std::abs(w));
      for (size_t e = 0; e < got.size(); ++e) {
        const double tolerance = f64 ? 1e-12 : 1e-6 * scale;
        ASSERT_NEAR(got[e], want[e], tolerance) << "step " << k << ", p" << i << "[" << e << "]";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, OptimizerMatchesPyTorch,
                         testing::Combine(testing::ValuesIn(kCases), testing::Values("f64", "f32")),
                         [](const auto& info) { return std::get<0>(info.param) + "_" + std::get<1>(info.param); });

// ---- resuming ---------------------------------------------------------------------------

// Optimizers with every buffer in use, built with lr 0.05 (or `lr`).
std::unique_ptr<Optimizer> make_kind(const std::string& kind, std::vector<Tensor> params, double lr = 0.05) {
  if (kind == "SGD") return std::make_unique<SGD>(params, SGDOptions{lr, 0.9, 0.0, 0.01, true});
  if (kind == "Adam") return std::make_unique<Adam>(params, AdamOptions{lr, 0.8, 0.95, 1e-8, 0.01, true});
  if (kind == "AdamW") return std::make_unique<AdamW>(params, AdamWOptions{lr, 0.9, 0.99, 1e-8, 0.1, false});
  if (kind == "RMSprop") return std::make_unique<RMSprop>(params, RMSpropOptions{lr, 0.9, 1e-8, 0.01, 0.5, true});
  return std::make_unique<Adagrad>(params, AdagradOptions{lr, 0.01, 0.01, 0.1, 1e-10});
}

// A float32 matrix and a float64 vector large enough for the parallel loop.
std::vector<Tensor> resume_params() {
  Generator generator(7);
  return {leaf_copy(randn({5, 7}, {}, &generator)),
          leaf_copy(randn({40000}, TensorOptions{}.with_dtype(DType::Float64), &generator))};
}

void set_grads(std::vector<Tensor>& params, int step) {
  Generator generator(100 + step);
  for (Tensor& p : params) p.set_grad(randn(p.shape(), TensorOptions{}.with_dtype(p.dtype()), &generator));
}

nn::StateDict with_prefix(const std::string& prefix, const nn::StateDict& dict) {
  nn::StateDict out;
  for (const auto& [key, value] : dict) out[prefix + key] = value;
  return out;
}

nn::StateDict strip_prefix(const std::string& prefix, const nn::StateDict& dict) {
  nn::StateDict out;
  for (const auto& [key, value] : dict) {
    if (key.starts_with(prefix)) out[key.substr(prefix.size())] = value;
  }
  return out;
}

bool bit_identical(const Tensor& a, const Tensor& b) {
  const Tensor x = a.contiguous(), y = b.contiguous();
  return x.dtype() == y.dtype() && x.shape() == y.shape() && std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) == 0;
}

class OptimizerResume : public testing::TestWithParam<std::string> {};

// 3 steps, a checkpoint through safetensors (model, optimizer and scheduler state), a fresh
// optimizer built with other hyper-parameters, 3 more steps: bit-identical to 6 straight steps.
TEST_P(OptimizerResume, ThreeStepsSavedAndRestoredEqualSixStraightSteps) {
  const std::string kind = GetParam();
  std::vector<Tensor> straight = resume_params();
  std::unique_ptr<Optimizer> straight_optimizer = make_kind(kind, straight);
  StepLR straight_schedule(*straight_optimizer, 2, 0.5);
  for (int step = 1; step <= 6; ++step) {
    set_grads(straight, step);
    straight_optimizer->step();
    straight_schedule.step();
  }

  const std::string path =
      (std::filesystem::temp_directory_path() / fmt::format("recur_resume_{}_{}.safetensors", kind, getpid())).string();
  {
    std::vector<Tensor> first = resume_params();
    std::unique_ptr<Optimizer> optimizer = make_kind(kind, first);
    StepLR schedule(*optimizer, 2, 0.5);
    for (int step = 1; step <= 3; ++step) {
      set_grads(first, step);
      optimizer->step();
      schedule.step();
    }
    nn::StateDict checkpoint = with_prefix("optimizer.", optimizer->state_dict());
    checkpoint.merge(with_prefix("scheduler.", schedule.state_dict()));
    checkpoint["model.p0"] = first[0];
    checkpoint["model.p1"] = first[1];
    nn::save_safetensors(path, checkpoint);
  }
  const nn::StateDict checkpoint = nn::load_safetensors(path).tensors;
  std::filesystem::remove(path);
  std::vector<Tensor> resumed = {leaf_copy(checkpoint.at("model.p0")), leaf_copy(checkpoint.at("model.p1"))};
  std::unique_ptr<Optimizer> optimizer = make_kind(kind, resumed, /*lr=*/0.777);
  StepLR schedule(*optimizer, 2, 0.5);
  optimizer->load_state_dict(strip_prefix("optimizer.", checkpoint));
  schedule.load_state_dict(strip_prefix("scheduler.", checkpoint));
  for (int step = 4; step <= 6; ++step) {
    set_grads(resumed, step);
    optimizer->step();
    schedule.step();
  }

  for (size_t i = 0; i < straight.size(); ++i) EXPECT_TRUE(bit_identical(resumed[i], straight[i])) << "p" << i;
  EXPECT_EQ(optimizer->lr(), straight_optimizer->lr());
  const nn::StateDict a = optimizer->state_dict(), b = straight_optimizer->state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [key, tensor] : b) EXPECT_TRUE(bit_identical(a.at(key), tensor)) << key;
}

INSTANTIATE_TEST_SUITE_P(EveryOptimizer, OptimizerResume,
                         testing::Values("SGD", "Adam", "AdamW", "RMSprop", "Adagrad"));

// ---- behaviour --------------------------------------------------------------------------

TEST(Optimizer, SkipsParametersWithoutAGradient) {
  std::vector<Tensor> params = {leaf_copy(from_vector<float>({1, 2}, {2})), leaf_copy(from_vector<float>({3}, {1}))};
  params[0].set_grad(from_vector<float>({1, 1}, {2}));
  Adam adam(params, AdamOptions{0.1});
  adam.step();
  EXPECT_NE(params[0].at({0}), 1.0);
  EXPECT_EQ(params[1].at({0}), 3.0);
  EXPECT_EQ(adam.state(0, 1).step, 0);
  EXPECT_FALSE(adam.state_dict().count("state.1.step"));
}

TEST(Optimizer, GroupsUseTheirOwnLearningRates) {
  Tensor a = leaf_copy(from_vector<double>({1}, {1}, TensorOptions{}.with_dtype(DType::Float64)));
  Tensor b = leaf_copy(from_vector<double>({1}, {1}, TensorOptions{}.with_dtype(DType::Float64)));
  SGD sgd(std::vector<ParamGroup>{ParamGroup({a}, 0.5), ParamGroup({b})}, SGDOptions{0.25});
  a.set_grad(from_vector<double>({1}, {1}, TensorOptions{}.with_dtype(DType::Float64)));
  b.set_grad(from_vector<double>({1}, {1}, TensorOptions{}.with_dtype(DType::Float64)));
  sgd.step();
  EXPECT_EQ(a.at({0}), 0.5);
  EXPECT_EQ(b.at({0}), 0.75);
  sgd.set_lr(1, 0.125);
  EXPECT_EQ(sgd.lr(1), 0.125);
}

TEST(Optimizer, ZeroGradDropsOrZeroesTheGradients) {
  Tensor p = leaf_copy(from_vector<float>({1, 2}, {2}));
  SGD sgd({p});
  p.set_grad(from_vector<float>({5, 6}, {2}));
  sgd.zero_grad(GradReset::ToZero);
  EXPECT_EQ(p.grad().to_vector<float>(), (std::vector<float>{0, 0}));
  sgd.zero_grad();
  EXPECT_FALSE(p.grad().defined());
}

TEST(Optimizer, ParallelUpdateDoesNotDependOnTheThreadCount) {
  const int threads = get_num_threads();
  std::vector<Tensor> results;
  for (int n : {1, 2}) {
    set_num_threads(n);
    std::vector<Tensor> params = resume_params();
    Adam adam(params, AdamOptions{0.01});
    for (int step = 1; step <= 2; ++step) {
      set_grads(params, step);
      adam.step();
    }
    results.push_back(params[1]);
  }
  set_num_threads(threads);
  EXPECT_TRUE(bit_identical(results[0], results[1]));
}

TEST(Optimizer, RejectsAnUnknownOptionNamingTheKnownOnes) {
  Tensor p = leaf_copy(from_vector<float>({1}, {1}));
  EXPECT_THAT(
      [&] {
        SGD sgd(std::vector<ParamGroup>{ParamGroup({p}, 0.1, 0.0, {{"betas", 0.9}})});
      },
      testing::ThrowsMessage<Error>(
          HasSubstr("SGD: unknown option 'betas' in parameter group 0 (SGD knows dampening, momentum, nesterov)")));
}

TEST(Optimizer, RejectsOutOfRangeOptions) {
  Tensor p = leaf_copy(from_vector<float>({1}, {1}));
  EXPECT_THAT(
      [&] {
        Adam adam({p}, AdamOptions{0.1, 1.0});
      },
      testing::ThrowsMessage<Error>(HasSubstr("Adam: parameter group 0 has beta1 = 1, expected in [0, 1)")));
  EXPECT_THAT([&] { AdamW adamw({p}, AdamWOptions{-0.1}); },
              testing::ThrowsMessage<Error>(HasSubstr("AdamW: parameter group 0 has lr -0.1, expected >= 0")));
  EXPECT_THAT(
      [&] {
        SGD sgd({p}, SGDOptions{0.1, 0.0, 0.0, 0.0, true});
      },
      testing::ThrowsMessage<Error>(HasSubstr("Nesterov momentum needs momentum > 0 and dampening 0")));
}

TEST(Optimizer, RejectsAParameterInTwoGroups) {
  Tensor p = leaf_copy(from_vector<float>({1}, {1}));
  EXPECT_THAT(
      [&] {
        SGD sgd(std::vector<ParamGroup>{ParamGroup({p}), ParamGroup({p})});
      },
      testing::ThrowsMessage<Error>(HasSubstr("appears more than once among the parameter groups")));
}

TEST(Optimizer, RejectsAGradientOfAnotherShape) {
  Tensor p = leaf_copy(from_vector<float>({1, 2}, {2}));
  SGD sgd({p});
  p.set_grad(from_vector<float>({1, 2, 3}, {3}));
  EXPECT_THAT([&] { sgd.step(); }, testing::ThrowsMessage<Error>(HasSubstr("but its gradient is float32[3]")));
}

TEST(Optimizer, LoadStateDictRejectsMismatchesAndChangesNothing) {
  std::vector<Tensor> params = resume_params();
  Adam adam(params, AdamOptions{0.01});
  set_grads(params, 1);
  adam.step();
  nn::StateDict dict = adam.state_dict();

  Adam other({leaf_copy(from_vector<float>({1, 2}, {2})), params[1]}, AdamOptions{0.5});
  EXPECT_THAT([&] { other.load_state_dict(dict); },
              testing::ThrowsMessage<Error>(
                  HasSubstr("'state.0.exp_avg' is float32[5, 7] on cpu, but parameter 0 is float32[2]")));
  EXPECT_EQ(other.lr(), 0.5);
  EXPECT_EQ(other.state(0, 1).step, 0);

  SGD sgd(params, SGDOptions{0.1});
  EXPECT_THAT([&] { sgd.load_state_dict(dict); },
              testing::ThrowsMessage<Error>(HasSubstr("SGD.load_state_dict: the state dict has no "
                                                      "'param_groups.0.dampening'")));
  nn::StateDict extra = dict;
  extra["state.9.exp_avg"] = extra.at("state.0.exp_avg");
  EXPECT_THAT([&] { Adam(params, AdamOptions{0.01}).load_state_dict(extra); },
              testing::ThrowsMessage<Error>(HasSubstr("unexpected entry 'state.9.exp_avg'")));

  dict.erase("state.1.exp_avg_sq");
  Adam third(params, AdamOptions{0.01});
  EXPECT_THAT([&] { third.load_state_dict(dict); },
              testing::ThrowsMessage<Error>(HasSubstr("the state dict has no 'state.1.exp_avg_sq'")));
}

TEST(Optimizer, StateDictStoresHyperParametersAndStepsAsScalars) {
  Tensor p = leaf_copy(from_vector<float>({1}, {1}));
  SGD sgd({p}, SGDOptions{0.1, 0.9});
  p.set_grad(from_vector<float>({1}, {1}));
  sgd.step();
  sgd.step();
  const nn::StateDict dict = sgd.state_dict();
  EXPECT_EQ(dict.at("param_groups.0.lr").dtype(), DType::Float64);
  EXPECT_EQ(dict.at("param_groups.0.lr").dim(), 0);
  EXPECT_EQ(dict.at("param_groups.0.momentum").item(), 0.9);
  EXPECT_EQ(dict.at("state.0.step").dtype(), DType::Int64);
  EXPECT_EQ(dict.at("state.0.step").item(), 2.0);
  EXPECT_EQ(dict.at("state.0.momentum_buffer").shape(), (Shape{1}));
}

}  // namespace
}  // namespace recur::optim
