// Learning-rate schedules against hand-computed sequences (checked against PyTorch 1.13's
// lr_scheduler where it has the schedule), and their state dicts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "optim/lr_schedule.h"
#include "optim/schedulers.h"
#include "optim/sgd.h"

namespace recur::optim {
namespace {

struct Fixture {
  Tensor param = zeros({1});
  SGD sgd{std::vector<Tensor>{param}, SGDOptions{1.0}};
};

template <typename Scheduler> std::vector<double> lrs_over(Scheduler& scheduler, Optimizer& optimizer, int steps) {
  std::vector<double> lrs = {optimizer.lr()};
  for (int i = 0; i < steps; ++i) {
    scheduler.step();
    lrs.push_back(optimizer.lr());
    EXPECT_EQ(scheduler.get_last_lr().at(0), optimizer.lr());
  }
  return lrs;
}

TEST(StepLR, MultipliesByGammaEveryStepSizeEpochs) {
  Fixture f;
  StepLR schedule(f.sgd, 2, 0.5);
  EXPECT_EQ(lrs_over(schedule, f.sgd, 5), (std::vector<double>{1, 1, 0.5, 0.5, 0.25, 0.25}));
  EXPECT_EQ(schedule.last_epoch(), 5);
}

TEST(ExponentialLR, MultipliesByGammaEveryEpoch) {
  Fixture f;
  ExponentialLR schedule(f.sgd, 0.5);
  EXPECT_EQ(lrs_over(schedule, f.sgd, 3), (std::vector<double>{1, 0.5, 0.25, 0.125}));
}

TEST(CosineWithWarmup, WarmsUpLinearlyFromZeroThenFollowsHalfACosineToTheFloor) {
  Fixture f;
  CosineWithWarmup schedule(f.sgd, 2, 6, 0.1);
  const std::vector<double> lrs = lrs_over(schedule, f.sgd, 7);
  const double pi = std::numbers::pi;
  const std::vector<double> expected = {
      0.0, 0.5, 1.0, 0.1 + 0.9 * 0.5 * (1 + std::cos(pi / 4)), 0.55, 0.1 + 0.9 * 0.5 * (1 + std::cos(3 * pi / 4)),
      0.1, 0.1};
  ASSERT_EQ(lrs.size(), expected.size());
  for (size_t t = 0; t < lrs.size(); ++t) EXPECT_NEAR(lrs[t], expected[t], 1e-15) << "step " << t;
}

TEST(LrSchedule, CosineFollowsTheProgressDownToTheFloorAsCosineWithWarmupDoes) {
  const LrSchedule schedule{.kind = ScheduleKind::Cosine, .base = 2.0, .min_ratio = 0.1};
  Fixture f;
  CosineWithWarmup epochs(f.sgd, 0, 4, 0.1);
  for (int64_t t = 0; t <= 4; ++t) {
    EXPECT_DOUBLE_EQ(schedule.lr_at(t, static_cast<double>(t) / 4.0), 2.0 * epochs.factor(t)) << "step " << t;
  }
  EXPECT_EQ(schedule.lr_at(9, 1.5), schedule.lr_at(9, 1.0));  // the progress is clamped to [0, 1]
}

TEST(LrSchedule, StepDropsEveryStepSizeStepsOrAtAThirdAndTwoThirdsOfTheProgress) {
  const LrSchedule periodic{.kind = ScheduleKind::Step, .base = 1.0, .step_size = 2, .gamma = 0.5};
  EXPECT_EQ(periodic.lr_at(0, 0.0), 1.0);
  EXPECT_EQ(periodic.lr_at(1, 0.0), 1.0);
  EXPECT_EQ(periodic.lr_at(2, 0.0), 0.5);
  EXPECT_EQ(periodic.lr_at(5, 0.0), 0.25);
  const LrSchedule thirds{.kind = ScheduleKind::Step, .base = 1.0, .gamma = 0.5};
  EXPECT_EQ(thirds.lr_at(0, 0.3), 1.0);
  EXPECT_EQ(thirds.lr_at(0, 0.34), 0.5);
  EXPECT_EQ(thirds.lr_at(0, 0.7), 0.25);
  EXPECT_EQ(thirds.lr_at(0, 1.0), 0.25);
}

TEST(LrSchedule, WarmsUpLinearlyFromTheFirstStepOnTopOfTheSchedule) {
  const LrSchedule schedule{.kind = ScheduleKind::Constant, .base = 1.0, .warmup = 4};
  EXPECT_EQ(schedule.lr_at(0, 0.0), 0.25);
  EXPECT_EQ(schedule.lr_at(1, 0.0), 0.5);
  EXPECT_EQ(schedule.lr_at(3, 0.0), 1.0);
  EXPECT_EQ(schedule.lr_at(4, 0.0), 1.0);
}

TEST(CosineWithWarmup, ScalesEachGroupsOwnBaseLr) {
  Tensor a = zeros({1}), b = zeros({1});
  SGD sgd(std::vector<ParamGroup>{ParamGroup({a}, 1.0), ParamGroup({b}, 0.1)});
  CosineWithWarmup schedule(sgd, 0, 2);
  EXPECT_EQ(sgd.lr(0), 1.0);
  EXPECT_EQ(sgd.lr(1), 0.1);
  schedule.step();
  EXPECT_NEAR(sgd.lr(0), 0.5, 1e-15);
  EXPECT_NEAR(sgd.lr(1), 0.05, 1e-15);
}

TEST(CosineWithWarmup, RejectsTotalStepsNotPastTheWarmUp) {
  Fixture f;
  EXPECT_THAT([&] { CosineWithWarmup schedule(f.sgd, 10, 10); },
              testing::ThrowsMessage<Error>(testing::HasSubstr("total_steps 10 must exceed warmup_steps 10")));
}

// The sequence PyTorch 1.13 gives for ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1).
TEST(ReduceLROnPlateau, ReducesAfterPatienceRunsOutAndWaitsOutTheCooldown) {
  Fixture f;
  ReduceLROnPlateau schedule(f.sgd, PlateauOptions{.factor = 0.5, .patience = 2, .cooldown = 1});
  std::vector<double> lrs;
  for (double metric : {10, 9, 9, 9, 9, 8, 8, 8, 8, 8}) {
    schedule.step(metric);
    lrs.push_back(f.sgd.lr());
  }
  EXPECT_EQ(lrs, (std::vector<double>{1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25}));
  EXPECT_EQ(schedule.best(), 8.0);
}

TEST(ReduceLROnPlateau, ImprovementMustBeatTheRelativeThresholdAndLrStopsAtTheFloor) {
  Fixture f;
  ReduceLROnPlateau schedule(f.sgd, PlateauOptions{.factor = 0.1, .patience = 0, .threshold = 0.1, .min_lr = 0.05});
  schedule.step(10.0);  // best 10
  schedule.step(9.5);   // not below 10 * 0.9: bad epoch, patience 0 -> lr 0.1
  EXPECT_NEAR(f.sgd.lr(), 0.1, 1e-15);
  schedule.step(8.0);  // improved
  EXPECT_NEAR(f.sgd.lr(), 0.1, 1e-15);
  schedule.step(8.0);  // bad -> max(0.01, 0.05)
  EXPECT_EQ(f.sgd.lr(), 0.05);
  schedule.step(8.0);
  EXPECT_EQ(f.sgd.lr(), 0.05);
}

TEST(ReduceLROnPlateau, MaxModeWatchesForIncreases) {
  Fixture f;
  ReduceLROnPlateau schedule(
      f.sgd, PlateauOptions{
                 .mode = PlateauMode::Max, .factor = 0.5, .patience = 1, .threshold_mode = ThresholdMode::Absolute});
  for (double accuracy : {0.5, 0.6, 0.6, 0.6}) schedule.step(accuracy);
  EXPECT_EQ(f.sgd.lr(), 0.5);
}

TEST(ReduceLROnPlateau, StepWithoutAMetricIsAnError) {
  Fixture f;
  ReduceLROnPlateau schedule(f.sgd);
  EXPECT_THAT([&] { schedule.step(); }, testing::ThrowsMessage<Error>(testing::HasSubstr("call step(metric)")));
}

TEST(ReduceLROnPlateau, StateDictRestoresTheCounters) {
  Fixture f;
  ReduceLROnPlateau schedule(f.sgd, PlateauOptions{.patience = 3});
  for (double metric : {5.0, 6.0, 6.0}) schedule.step(metric);
  Fixture g;
  ReduceLROnPlateau restored(g.sgd, PlateauOptions{.patience = 3});
  restored.load_state_dict(schedule.state_dict());
  EXPECT_EQ(restored.best(), 5.0);
  EXPECT_EQ(restored.num_bad_epochs(), 2);
  EXPECT_EQ(restored.last_epoch(), 3);
  schedule.step(6.0);
  restored.step(6.0);
  schedule.step(6.0);
  restored.step(6.0);
  EXPECT_EQ(f.sgd.lr(), g.sgd.lr());
  EXPECT_NEAR(g.sgd.lr(), 0.1, 1e-15);
}

TEST(LRScheduler, StateDictRoundTripContinuesTheSchedule) {
  Fixture f;
  StepLR schedule(f.sgd, 3, 0.1);
  for (int i = 0; i < 4; ++i) schedule.step();
  Fixture g;
  StepLR restored(g.sgd, 3, 0.1);
  g.sgd.load_state_dict(f.sgd.state_dict());
  restored.load_state_dict(schedule.state_dict());
  EXPECT_EQ(restored.last_epoch(), 4);
  for (int i = 0; i < 4; ++i) {
    schedule.step();
    restored.step();
    EXPECT_EQ(g.sgd.lr(), f.sgd.lr()) << "step " << i;
  }
}

TEST(LRScheduler, LoadStateDictRejectsAnotherNumberOfGroups) {
  Fixture f;
  StepLR schedule(f.sgd, 3);
  Tensor a = zeros({1}), b = zeros({1});
  SGD two(std::vector<ParamGroup>{ParamGroup({a}), ParamGroup({b})});
  StepLR other(two, 3);
  EXPECT_THAT([&] { other.load_state_dict(schedule.state_dict()); },
              testing::ThrowsMessage<Error>(testing::HasSubstr("the optimizer has 2 parameter groups")));
}

}  // namespace
}  // namespace recur::optim
