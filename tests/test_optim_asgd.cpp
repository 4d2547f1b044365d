// NT-ASGD's pieces: the running average of the weights (optim/weight_averager.h) against a hand
// computation in float64, averaged SGD (optim/asgd.h) against plain SGD, their state dicts, and
// the non-monotone trigger (optim/nonmono.h) on a table of loss sequences.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "optim/asgd.h"
#include "optim/nonmono.h"
#include "optim/sgd.h"
#include "optim/weight_averager.h"

namespace recur::optim {
namespace {

using testing::HasSubstr;

const TensorOptions kF64 = TensorOptions{}.with_dtype(DType::Float64);

Tensor f64(const std::vector<double>& values) {
  return from_vector<double>(values, {static_cast<int64_t>(values.size())}, kF64);
}

TEST(WeightAverager, AveragesTheIteratesSinceTheStartAsTheHandComputationDoes) {
  Tensor w = f64({10, 20, 30});
  WeightAverager averager({w});
  w.copy_(f64({5, 5, 5}));
  averager.update();  // before start(): nothing
  EXPECT_FALSE(averager.started());
  EXPECT_EQ(averager.count(), 0);
  averager.start();
  const std::vector<std::vector<double>> iterates = {{1, 2, 3}, {3, 0, -1}, {2, 2, 2}, {0.1, -0.7, 1e-3}};
  std::vector<double> hand = {5, 5, 5};  // avg = w at the start
  for (size_t k = 0; k < iterates.size(); ++k) {
    w.copy_(f64(iterates[k]));
    averager.update();
    // avg = avg + (w - avg) / (k + 1), in float64 as written
    for (size_t j = 0; j < hand.size(); ++j) hand[j] = hand[j] + (iterates[k][j] - hand[j]) * (1.0 / (k + 1.0));
    EXPECT_EQ(averager.count(), static_cast<int64_t>(k + 1));
    EXPECT_EQ(averager.average()[0].to_vector<double>(), hand) << "after iterate " << k;
  }
  // ... which is the mean of the iterates (the starting value has weight 0).
  const std::vector<double> mean = {(1 + 3 + 2 + 0.1) / 4, (2 + 0 + 2 - 0.7) / 4, (3 - 1 + 2 + 1e-3) / 4};
  const std::vector<double> got = averager.average()[0].to_vector<double>();
  for (size_t j = 0; j < mean.size(); ++j) EXPECT_NEAR(got[j], mean[j], 1e-15);
  EXPECT_EQ(w.to_vector<double>(), iterates.back());  // the parameter itself is untouched
}

TEST(WeightAverager, SwapExchangesTheWeightsWithTheAverageBitForBit) {
  Tensor w = f64({1, 2});
  WeightAverager averager({w});
  averager.swap();  // before start(): nothing
  EXPECT_FALSE(averager.swapped());
  averager.start();
  w.copy_(f64({3, 6}));
  averager.update();
  w.copy_(f64({1.0 / 3, 0}));
  averager.update();
  const std::vector<double> average = averager.average()[0].to_vector<double>();
  averager.swap();
  EXPECT_TRUE(averager.swapped());
  EXPECT_EQ(w.to_vector<double>(), average);
  EXPECT_THROW(averager.update(), Error);
  EXPECT_THROW((void)averager.average(), Error);
  averager.swap();
  EXPECT_EQ(w.to_vector<double>(), (std::vector<double>{1.0 / 3, 0}));
  EXPECT_EQ(averager.average()[0].to_vector<double>(), average);
}

TEST(WeightAverager, StateDictRoundTripsAndIsCheckedBeforeUse) {
  Tensor w = f64({1, 2, 3});
  WeightAverager averager({w});
  averager.start();
  w.copy_(f64({4, 5, 6}));
  averager.update();
  averager.update();
  averager.swap();
  const StateDict saved = averager.state_dict();

  Tensor w2 = f64({4, 5, 6});
  WeightAverager restored({w2});
  std::vector<std::string> used;
  restored.load_state_dict(saved, "test", &used);
  EXPECT_EQ(used.size(), saved.size());
  EXPECT_TRUE(restored.started());
  EXPECT_TRUE(restored.swapped());
  EXPECT_EQ(restored.count(), 2);
  restored.swap();
  averager.swap();
  EXPECT_EQ(restored.average()[0].to_vector<double>(), averager.average()[0].to_vector<double>());

  StateDict wrong = saved;
  wrong["average.held.0"] = f64({1, 2});
  Tensor w3 = f64({0, 0, 0});
  WeightAverager other({w3});
  try {
    other.load_state_dict(wrong, "test");
    FAIL() << "a held tensor of another shape was accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("average.held.0"));
  }
  EXPECT_FALSE(other.started());
}

TEST(ASGD, StepsAsPlainSGDAndAveragesFromTheStart) {
  Tensor a = f64({1, -2, 0.5}), b = f64({1, -2, 0.5});
  a.requires_grad_(true), b.requires_grad_(true);
  ASGD asgd({a}, {.lr = 0.1, .weight_decay = 0.01});
  SGD sgd({b}, {.lr = 0.1, .momentum = 0.0, .weight_decay = 0.01});
  std::vector<std::vector<double>> iterates;
  for (int step = 0; step < 6; ++step) {
    if (step == 2) asgd.start_averaging();
    const std::vector<double> g = {0.3 * step - 1, 0.5, -0.25 * step};
    a.set_grad(f64(g)), b.set_grad(f64(g));
    asgd.step(), sgd.step();
    EXPECT_EQ(a.to_vector<double>(), b.to_vector<double>()) << "step " << step;
    if (step >= 2) iterates.push_back(a.to_vector<double>());
  }
  EXPECT_TRUE(asgd.averaging());
  EXPECT_EQ(asgd.averaged_steps(), 4);
  const std::vector<double> average = asgd.averager().average()[0].to_vector<double>();
  for (size_t j = 0; j < 3; ++j) {
    double mean = 0;
    for (const auto& w : iterates) mean += w[j] / static_cast<double>(iterates.size());
    EXPECT_NEAR(average[j], mean, 1e-14);
  }
}

TEST(ASGD, StateDictCarriesTheAverageAndRefusesAnotherOptimizers) {
  Tensor a = f64({1, 2});
  a.requires_grad_(true);
  ASGD asgd({a}, {.lr = 0.5});
  a.set_grad(f64({1, 1}));
  asgd.step();
  asgd.start_averaging();
  asgd.step();
  const StateDict saved = asgd.state_dict();
  EXPECT_EQ(saved.count("average.held.0"), 1U);

  Tensor c = f64({0, 0});
  ASGD restored({c}, {.lr = 0.5});
  restored.load_state_dict(saved);
  EXPECT_TRUE(restored.averaging());
  EXPECT_EQ(restored.averaged_steps(), 1);
  EXPECT_EQ(restored.averager().average()[0].to_vector<double>(), asgd.averager().average()[0].to_vector<double>());

  Tensor d = f64({0, 0});
  SGD sgd({d}, {.lr = 0.5});
  EXPECT_THROW(sgd.load_state_dict(saved), Error);                  // unexpected average.* entries
  EXPECT_THROW(restored.load_state_dict(sgd.state_dict()), Error);  // no average.* entries
}

// Each row: the validation losses in order, --nonmono, and the index of the evaluation that
// triggers averaging (-1: none). The rule: t > n and loss > min(losses[0 .. t - n)).
struct TriggerCase {
  std::vector<double> losses;
  int64_t nonmono;
  int64_t trigger;
};

TEST(NonmonoTrigger, TableOfLossSequences) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<TriggerCase> cases = {
      {{5, 4, 3, 2, 1, 0.5, 0.4}, 1, -1},            // always improving
      {{5, 4, 4.5}, 1, -1},                          // t = 2: 4.5 is not > min(5)
      {{5, 4, 5.5}, 1, 2},                           // t = 2: 5.5 > min(5)
      {{5, 6}, 1, -1},                               // t = 1 is not > 1
      {{5, 6, 7}, 1, 2},                             // t = 2: 7 > min(5)
      {{5, 4, 3, 3.5, 3.6, 3.7}, 2, 5},              // 3.5 vs 5, 3.6 vs min(5, 4), 3.7 > min(5, 4, 3)
      {{5, 4, 3, 3.5, 2.9, 3.0}, 2, -1},             // 3.0 is not > min(5, 4, 3) = 3
      {{5, 4, 3, 3.5, 2.9, 3.01}, 2, 5},             // 3.01 > 3
      {{10, 9, 8, 7, 6, 6.5, 7.5, 8.5}, 5, -1},      // the paper's 5: 7.5 vs 10, 8.5 vs min(10, 9)
      {{10, 9, 8, 7, 6, 6.5, 7.5, 8.5, 8.1}, 5, 8},  // 8.1 > min(10, 9, 8)
      {{3, 2, 1, 1, 1, 1, 1, 1}, 5, -1},             // equal is not worse
      {{3, nan, 2, 2.5, 2.6}, 1, 4},                 // a NaN is no minimum: 2.5 vs min(3, NaN) = 3, 2.6 > 2
      {{3, 2, nan, nan}, 1, -1},                     // a NaN loss never triggers
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(nonmono_trigger_index(cases[i].losses, cases[i].nonmono), cases[i].trigger) << "case " << i;
  }
  EXPECT_THROW((void)nonmono_triggered({1, 2}, 3, 0), Error);
}

}  // namespace
}  // namespace recur::optim
