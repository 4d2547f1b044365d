// AWD-LSTM's optimisation in the trainer: NT-ASGD (--optimizer ntasgd, --nonmono) resumes bit for
// bit before and after its trigger and evaluates and saves the averaged weights; --bptt-jitter
// draws its lengths by seed and step, within bounds, and resumes bit for bit.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "core/error.h"
#include "examples/lm/checkpoint.h"
#include "examples/lm/data.h"
#include "examples/lm/evaluate.h"
#include "examples/lm/trainer.h"
#include "test_lm_run_util.h"
#include "test_lm_util.h"

namespace recur::lm {
namespace {

using testing::expect_bit_identical;
using testing::recording;
using testing::ScratchDir;
using testing::tiny_corpus;
using testing::tiny_options;
using testing::train;
using testing::TrainedRun;

// Plain SGD at a learning rate high enough that the validation loss goes up and down, evaluated
// every 2 steps: NT-ASGD triggers within the 40 steps.
TrainOptions ntasgd_options(const std::string& data, const std::string& out) {
  TrainOptions o = tiny_options(data, out);
  o.optimizer = "ntasgd";
  o.lr = 3.0;
  o.clip = 0.25;
  o.lr_schedule = "constant";
  o.warmup = 0;
  o.eval_every = 2;
  o.nonmono = 2;
  o.decay_steps = 40;  // the schedule must not depend on --steps
  return o;
}

// Trains `options` to `first_steps`, then resumes it to options.steps.
TrainedRun train_in_two(const TrainOptions& options, int64_t first_steps) {
  TrainOptions first = options;
  first.steps = first_steps;
  TrainedRun run = train(first);
  CollectingReporter reporter;
  TrainOptions more;
  more.steps = options.steps;
  auto resumed = Trainer::resume(options.out, more, {"steps"}, reporter, recording(run.losses));
  run.result = resumed->run();
  return run;
}

TEST(LmNtasgd, ResumeIsBitIdenticalBeforeAndAfterTheTrigger) {
  ScratchDir dir("ntasgd_resume");
  const std::string data = tiny_corpus(dir);
  const TrainedRun straight = train(ntasgd_options(data, dir / "straight"));
  const int64_t trigger = load_checkpoint(dir / "straight", LoadParts::ModelAndTrainingState).progress.averaging_from;
  ASSERT_GE(trigger, 6) << "NT-ASGD must trigger inside the run for this test to mean anything";
  ASSERT_LE(trigger, 34);
  // Stopped before the trigger, at it (the final evaluation of the first part triggers), and after.
  for (const int64_t stop : {trigger - 3, trigger, trigger + 3}) {
    const TrainedRun split = train_in_two(ntasgd_options(data, dir / ("split" + std::to_string(stop))), stop);
    expect_bit_identical(straight.losses, split.losses, 0);
    EXPECT_EQ(split.result.validation.loss, straight.result.validation.loss) << "stopped at " << stop;
    EXPECT_EQ(load_checkpoint(dir / ("split" + std::to_string(stop)), LoadParts::ModelAndTrainingState)
                  .progress.averaging_from,
              trigger);
  }
}

// Evaluation and checkpoint/ hold the mean of the iterates since the trigger,
// while training goes on from its own weights. float64, to compare with a hand computation.
TEST(LmNtasgd, EvaluationAndTheCheckpointUseTheAveragedWeights) {
  ScratchDir dir("ntasgd_average");
  TrainOptions options = ntasgd_options(tiny_corpus(dir), dir / "run");
  options.dtype = "float64";
  // Every parameter's values after every step, read through the hook.
  std::vector<std::vector<std::vector<double>>> iterates;
  std::unique_ptr<Trainer> recorded;
  TrainHooks record;
  record.on_step = [&iterates, &recorded](int64_t step, double) {
    std::vector<std::vector<double>> values;
    for (const Tensor& p : recorded->model().parameters()) values.push_back(p.to_vector<double>());
    if (static_cast<int64_t>(iterates.size()) <= step) iterates.resize(static_cast<size_t>(step) + 1);
    iterates[static_cast<size_t>(step)] = std::move(values);
  };
  CollectingReporter reporter;
  recorded = std::make_unique<Trainer>(options, reporter, record);
  const TrainResult result = recorded->run();
  ASSERT_EQ(iterates.size(), 40U);

  const Checkpoint latest = load_checkpoint(options.out, LoadParts::ModelAndTrainingState);
  const int64_t trigger = latest.progress.averaging_from;
  ASSERT_GE(trigger, 1);
  ASSERT_LT(trigger, 39);
  // Averaging starts after the evaluation at step `trigger`: the iterates of steps trigger..39
  // (0-based step indices) are averaged.
  auto averaged = model_from_checkpoint(latest);
  const std::vector<Tensor> saved = averaged->parameters();
  const std::vector<Tensor> training = recorded->model().parameters();
  ASSERT_EQ(saved.size(), iterates.back().size());
  bool differs = false;
  for (size_t i = 0; i < saved.size(); ++i) {
    const std::vector<double> got = saved[i].to_vector<double>();
    for (size_t j = 0; j < got.size(); ++j) {
      double mean = 0;
      for (int64_t s = trigger; s < 40; ++s) mean += iterates[static_cast<size_t>(s)][i][j];
      mean /= static_cast<double>(40 - trigger);
      EXPECT_NEAR(got[j], mean, 1e-12) << "parameter " << i << " element " << j;
    }
    // The model trains on from its own weights, the last iterate.
    EXPECT_EQ(training[i].to_vector<double>(), iterates.back()[i]);
    differs = differs || training[i].to_vector<double>() != got;
  }
  EXPECT_TRUE(differs);
  // The final validation loss is the averaged weights' (what `recur eval` computes).
  const std::string text = testing::read_text(options.data);
  const TokenSplit split = split_tokens(latest.vocab.encode(text), options.valid_fraction);
  EXPECT_EQ(evaluate(*averaged, split.valid, options.eval_batch, options.eval_bptt, Device::cpu(), "valid").loss,
            result.validation.loss);
}

TEST(LmBpttJitter, LengthsAreDeterministicBySeedAndStepAndBounded) {
  const int64_t bptt = 70, draws = 20000;
  int64_t differ = 0, halved = 0, near_base = 0;
  double sum_long = 0;
  for (int64_t step = 0; step < draws; ++step) {
    const int64_t length = jittered_bptt(7, step, bptt);
    EXPECT_EQ(length, jittered_bptt(7, step, bptt));
    ASSERT_GE(length, kMinJitteredBptt);
    ASSERT_LE(length, jitter_cap(bptt));
    differ += length != jittered_bptt(8, step, bptt) ? 1 : 0;
    if (length <= 52) {
      halved += 1;  // drawn around 35: 70 - 52 is over 3.5 standard deviations
    } else {
      sum_long += static_cast<double>(length);
    }
    near_base += std::abs(length - bptt) <= 5 ? 1 : 0;
  }
  EXPECT_GT(differ, draws / 2);  // another seed, other lengths
  // 5% of the draws around bptt / 2 (binomial: 1000 +- 31), the others around bptt with sd 5.
  EXPECT_GT(halved, 0.042 * draws);
  EXPECT_LT(halved, 0.058 * draws);
  EXPECT_NEAR(sum_long / static_cast<double>(draws - halved), 70.0, 0.2);
  EXPECT_GT(near_base, 0.95 * 0.70 * draws);  // P(|round(N(70, 5)) - 70| <= 5) = P(|z| < 1.1) = 0.73
  EXPECT_THROW((void)jittered_bptt(7, 0, kMinJitteredBptt - 1), Error);
}

TEST(LmBpttJitter, TrainsOnTheDrawnLengthsAndResumesBitIdentically) {
  ScratchDir dir("jitter");
  const std::string data = tiny_corpus(dir);
  TrainOptions options = tiny_options(data, dir / "straight");
  options.bptt_jitter = true;
  options.steps = 60;  // crosses an epoch: streams of 337 tokens, ~8 a step
  options.decay_steps = 60;
  const TrainedRun straight = train(options);
  int64_t tokens = 0;
  for (int64_t step = 0; step < 60; ++step) tokens += options.batch * jittered_bptt(options.seed, step, options.bptt);
  EXPECT_EQ(straight.result.tokens, tokens);
  const Checkpoint end = load_checkpoint(options.out, LoadParts::ModelAndTrainingState);
  EXPECT_GE(end.progress.epoch, 1);
  EXPECT_GT(end.progress.position, 0);

  options.out = dir / "split";
  const TrainedRun split = train_in_two(options, 23);
  expect_bit_identical(straight.losses, split.losses, 0);
  EXPECT_EQ(split.result.validation.loss, straight.result.validation.loss);
  EXPECT_EQ(split.result.tokens, tokens);
}

TEST(LmBpttJitter, RefusesAShortBpttAndStreamsShorterThanTheLongestLength) {
  ScratchDir dir("jitter_bad");
  TrainOptions options = tiny_options(tiny_corpus(dir), dir / "run");
  options.bptt_jitter = true;
  options.bptt = 4;
  EXPECT_THROW(options.validate(), Error);
  options.bptt = 8;
  options.batch = 60;  // streams of 22 tokens, but lengths up to 28
  CollectingReporter reporter;
  try {
    Trainer trainer(options, reporter);
    FAIL() << "streams shorter than the longest jittered length were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("too short for --bptt-jitter"), std::string::npos) << e.what();
  }
  options.bptt_jitter = false;
  options.optimizer = "ntasgd";
  options.nonmono = 0;
  EXPECT_THROW(options.validate(), Error);
}

}  // namespace
}  // namespace recur::lm
