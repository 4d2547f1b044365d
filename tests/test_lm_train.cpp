// Training a language model (examples/lm/trainer.h): exact resumption, non-finite steps, the
// run folder, and sampling.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "backends/cpu/gemm.h"
#include "backends/threading.h"
#include "core/error.h"
#include "examples/lm/checkpoint.h"
#include "examples/lm/data.h"
#include "examples/lm/evaluate.h"
#include "examples/lm/sampler.h"
#include "examples/lm/trainer.h"
#include "test_lm_run_util.h"
#include "test_lm_util.h"

namespace recur::lm {
namespace {

namespace fs = std::filesystem;
using testing::ScratchDir;
using testing::tiny_corpus;
using testing::tiny_options;

using testing::deterministic_metrics;
using testing::expect_bit_identical;
using testing::recording;
using testing::train;
using testing::TrainedRun;

TEST(LmTrain, ResumeAfterStepsLimitIsBitIdentical) {
  ScratchDir dir("resume_steps");
  const std::string data = tiny_corpus(dir);
  TrainOptions options = tiny_options(data, dir / "straight");
  options.decay_steps = 40;  // the schedule must not depend on --steps
  const TrainedRun straight = train(options);
  EXPECT_EQ(straight.result.step, 40);

  TrainOptions first = options;
  first.out = dir / "split";
  first.steps = 20;
  TrainedRun split = train(first);
  CollectingReporter reporter;
  TrainOptions more;
  more.steps = 40;
  auto resumed = Trainer::resume(first.out, more, {"steps"}, reporter, recording(split.losses));
  const TrainResult result = resumed->run();
  EXPECT_EQ(result.step, 40);
  expect_bit_identical(straight.losses, split.losses, 0);
  EXPECT_EQ(result.validation.loss, straight.result.validation.loss);
  // The resumed run's metrics.csv continues the first one's (steps 1..40, the same losses).
  EXPECT_EQ(deterministic_metrics(first.out), straight.metrics);
}

TEST(LmTrain, ResumeAfterInterruptIsBitIdenticalWithCosineDropoutAndEpochs) {
  ScratchDir dir("resume_stop");
  const std::string data = tiny_corpus(dir);
  TrainOptions options = tiny_options(data, dir / "straight");  // 40 steps cross an epoch (33 batches)
  const TrainedRun straight = train(options);

  options.out = dir / "split";
  std::vector<double> losses;
  std::atomic<int> stop{0};
  TrainHooks hooks = recording(losses);
  hooks.on_step = [&losses, &stop, record = hooks.on_step](int64_t step, double loss) {
    record(step, loss);
    if (step == 16) stop.store(1);  // as SIGINT would, after step 17
  };
  CollectingReporter reporter;
  {
    Trainer trainer(options, reporter, hooks);
    const TrainResult interrupted = trainer.run(&stop);
    EXPECT_EQ(interrupted.end, RunEnd::Interrupted);
    EXPECT_EQ(interrupted.step, 17);
  }
  EXPECT_TRUE(fs::exists(options.out + "/checkpoint/model.safetensors"));
  EXPECT_FALSE(fs::exists(options.out + "/checkpoint.tmp"));
  auto resumed = Trainer::resume(options.out, TrainOptions{}, {}, reporter, recording(losses));
  const TrainResult result = resumed->run();
  EXPECT_EQ(result.end, RunEnd::Finished);
  expect_bit_identical(straight.losses, losses, 0);
  EXPECT_EQ(result.validation.loss, straight.result.validation.loss);
  EXPECT_EQ(deterministic_metrics(options.out), straight.metrics);
}

TEST(LmTrain, ResumeTakesTheRunsThreadCountUnlessThreadsIsGiven) {
  ScratchDir dir("resume_threads");
  const int threads = get_num_threads();
  TrainOptions options = tiny_options(tiny_corpus(dir), dir / "run");
  options.steps = 4;
  set_num_threads(1);
  (void)train(options);
  const nlohmann::json config = nlohmann::json::parse(testing::read_text(options.out + "/config.json"));
  EXPECT_EQ(config.at("threads"), 1);
  EXPECT_EQ(config.at("cpu_gemm"), gemm_provider_name());

  set_num_threads(3);
  CollectingReporter reporter;
  (void)Trainer::resume(options.out, TrainOptions{}, {}, reporter);
  EXPECT_EQ(get_num_threads(), 1);
  EXPECT_TRUE(reporter.warnings.empty());

  set_num_threads(3);  // as --threads 3 does
  (void)Trainer::resume(options.out, TrainOptions{}, {"threads"}, reporter);
  EXPECT_EQ(get_num_threads(), 3);
  ASSERT_EQ(reporter.warnings.size(), 1u);
  EXPECT_EQ(reporter.warnings[0],
            "--threads 3: the run used 1 thread, so the losses will not match those of an uninterrupted run bit for "
            "bit (resume without --threads to keep them)");
  set_num_threads(threads);
}

TEST(LmTrain, RunFolderHoldsConfigMetricsPlotAndCheckpoint) {
  ScratchDir dir("folder");
  TrainOptions options = tiny_options(tiny_corpus(dir), dir / "run");
  options.steps = 12;
  const TrainedRun run = train(options);
  for (const char* name :
       {"config.json", "metrics.csv", "loss.svg", "checkpoint/model.safetensors", "checkpoint/optimizer.safetensors",
        "checkpoint/carry.safetensors", "checkpoint/state.json", "checkpoint/config.json"}) {
    EXPECT_TRUE(fs::exists(options.out + "/" + name)) << name;
  }
  const nlohmann::json config = nlohmann::json::parse(testing::read_text(options.out + "/config.json"));
  EXPECT_EQ(config["model"]["rnn"]["hidden_size"], 16);
  EXPECT_EQ(config["model"]["rnn"]["mode"], "lstm");
  EXPECT_EQ(config["train"]["lr-schedule"], "cosine");
  EXPECT_EQ(config["vocab"]["kind"], "chars");
  const Checkpoint checkpoint = load_checkpoint(options.out, LoadParts::ModelAndTrainingState);
  EXPECT_EQ(checkpoint.progress.step, 12);
  EXPECT_TRUE(checkpoint.weights.count("rnn.weight_ih_l1"));
  EXPECT_TRUE(checkpoint.weights.count("embedding.weight"));
  EXPECT_TRUE(checkpoint.weights.count("head.bias"));
  EXPECT_TRUE(std::isfinite(run.result.validation.loss));
  EXPECT_LT(run.result.validation.loss, std::log(static_cast<double>(checkpoint.vocab.size())) + 0.2);
}

TEST(LmTrain, NonFiniteGradientSkipsTheStepAndCountsIt) {
  ScratchDir dir("nan_grad");
  TrainOptions options = tiny_options(tiny_corpus(dir), dir / "run");
  options.steps = 8;
  std::vector<double> losses;
  TrainHooks hooks = recording(losses);
  hooks.after_backward = [&](int64_t step, LanguageModel& model) {
    if (step == 4) model.head->bias.grad().data<float>()[0] = std::numeric_limits<float>::quiet_NaN();
  };
  CollectingReporter reporter;
  Trainer trainer(options, reporter, hooks);
  const TrainResult result = trainer.run();
  EXPECT_EQ(result.step, 8);
  EXPECT_EQ(result.skipped_steps, 1);
  EXPECT_TRUE(std::isfinite(result.validation.loss));
  bool reported = false;
  for (const std::string& message : reporter.messages)
    reported |= message.find("1 step was skipped") != std::string::npos;
  EXPECT_TRUE(reported);
}

TEST(LmTrain, NonFiniteLossesInARowStopTheRunAndKeepTheLastCheckpoint) {
  ScratchDir dir("nan_loss");
  TrainOptions options = tiny_options(tiny_corpus(dir), dir / "run");
  options.steps = 30;
  options.checkpoint_every = 4;
  options.max_bad_steps = 3;
  TrainHooks hooks;
  hooks.after_backward = [](int64_t step, LanguageModel& model) {
    if (step == 5) model.head->bias.fill_(std::numeric_limits<double>::infinity());  // every later loss is NaN
  };
  CollectingReporter reporter;
  Trainer trainer(options, reporter, hooks);
  try {
    (void)trainer.run();
    FAIL() << "expected the run to stop";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("3 steps in a row had a non-finite loss or gradient"), std::string::npos) << message;
    EXPECT_NE(message.find("the last checkpoint, of step 4"), std::string::npos) << message;
  }
  const Checkpoint checkpoint = load_checkpoint(options.out, LoadParts::ModelAndTrainingState);
  EXPECT_EQ(checkpoint.progress.step, 4);
  for (const auto& [name, tensor] : checkpoint.weights) {
    for (const float value : tensor.to_vector<float>()) ASSERT_TRUE(std::isfinite(value)) << name;
  }
}

TEST(LmTrain, SampleIsDeterministicBySeed) {
  ScratchDir dir("sample");
  TrainOptions options = tiny_options(tiny_corpus(dir), dir / "run");
  options.steps = 10;
  (void)train(options);
  const Checkpoint checkpoint = load_checkpoint(options.out, LoadParts::Model);
  auto model = model_from_checkpoint(checkpoint);
  SampleOptions sample_options{.prompt = "KING", .length = 60, .temperature = 0.8, .top_k = 10, .seed = 5};
  std::string streamed;
  const std::string a = sample(*model, checkpoint.vocab, sample_options, Device::cpu(),
                               [&](const std::string& piece) { streamed += piece; });
  EXPECT_EQ(a.size(), 60u);  // ASCII corpus: one byte per symbol
  EXPECT_EQ(streamed, a);
  auto reloaded = model_from_checkpoint(load_checkpoint(options.out, LoadParts::Model));
  EXPECT_EQ(sample(*reloaded, checkpoint.vocab, sample_options, Device::cpu()), a);
  sample_options.seed = 6;
  EXPECT_NE(sample(*model, checkpoint.vocab, sample_options, Device::cpu()), a);
  // Greedy decoding is top-k 1 at any temperature.
  const SampleOptions greedy{.prompt = "The ", .length = 30, .temperature = 0.0, .seed = 1};
  const SampleOptions top1{.prompt = "The ", .length = 30, .temperature = 1.5, .top_k = 1, .seed = 9};
  EXPECT_EQ(sample(*model, checkpoint.vocab, greedy, Device::cpu()),
            sample(*model, checkpoint.vocab, top1, Device::cpu()));
}

// A checkpoint at every evaluation; checkpoint-best/ holds the one of the lowest validation loss.
TEST(LmTrain, EveryEvaluationCheckpointsAndTheBestIsKeptBesideTheLatest) {
  ScratchDir dir("best");
  TrainOptions options = tiny_options(tiny_corpus(dir), dir / "run");
  std::vector<int64_t> checkpoint_steps;
  TrainHooks hooks;
  hooks.on_step = [&](int64_t step, double) {
    if (step % 10 == 1 && step > 1)
      checkpoint_steps.push_back(load_checkpoint(options.out, LoadParts::ModelAndTrainingState).progress.step);
  };
  CollectingReporter reporter;
  Trainer trainer(options, reporter, hooks);
  (void)trainer.run();
  EXPECT_EQ(checkpoint_steps, (std::vector<int64_t>{10, 20, 30}));  // --eval-every 10, no --checkpoint-every

  double best = std::numeric_limits<double>::infinity();
  int64_t best_step = -1;
  for (const MetricsRow& row : parse_metrics_csv(testing::read_text(options.out + "/metrics.csv"), "metrics.csv")) {
    if (std::isfinite(row.val_loss) && row.val_loss < best) best = row.val_loss, best_step = row.step;
  }
  const Checkpoint latest = load_checkpoint(options.out, LoadParts::ModelAndTrainingState, Which::Latest);
  const Checkpoint best_checkpoint = load_checkpoint(options.out, LoadParts::ModelAndTrainingState, Which::Best);
  EXPECT_EQ(latest.progress.step, 40);
  EXPECT_EQ(best_checkpoint.dir, options.out + "/checkpoint-best");
  EXPECT_EQ(best_checkpoint.progress.step, best_step);
  EXPECT_EQ(best_checkpoint.progress.best_step, best_step);
  EXPECT_NEAR(latest.progress.best_val_loss, best, 1e-6);  // metrics.csv rounds
  // Its weights give its validation loss.
  auto model = model_from_checkpoint(best_checkpoint);
  const std::string text = testing::read_text(options.data);
  const TokenSplit split = split_tokens(best_checkpoint.vocab.encode(text), options.valid_fraction);
  EXPECT_EQ(evaluate(*model, split.valid, options.eval_batch, options.eval_bptt, Device::cpu(), "valid").loss,
            latest.progress.best_val_loss);
}

// A run killed before its first checkpoint leaves config.json alone; --resume starts it again
// from step 0 with its options, and gives the uninterrupted run's losses.
TEST(LmTrain, ResumeOfAFolderWithoutCheckpointStartsFromStepZero) {
  ScratchDir dir("no_checkpoint");
  const std::string data = tiny_corpus(dir);
  TrainOptions options = tiny_options(data, dir / "straight");
  const TrainedRun straight = train(options);

  options.out = dir / "killed";
  CollectingReporter reporter;
  { Trainer never_ran(options, reporter); }
  ASSERT_TRUE(fs::exists(options.out + "/config.json"));
  ASSERT_FALSE(fs::exists(options.out + "/checkpoint"));
  std::vector<double> losses;
  auto resumed = Trainer::resume(options.out, TrainOptions{}, {}, reporter, recording(losses));
  ASSERT_FALSE(reporter.messages.empty());
  EXPECT_NE(reporter.messages.back().find("holds no checkpoint (its run stopped before the first one): starting it "
                                          "from step 0"),
            std::string::npos)
      << reporter.messages.back();
  const TrainResult result = resumed->run();
  expect_bit_identical(straight.losses, losses, 0);
  EXPECT_EQ(result.validation.loss, straight.result.validation.loss);
  EXPECT_EQ(deterministic_metrics(options.out), straight.metrics);
}

// --init-from: a new run starts from another run's weights and vocabulary.
TEST(LmTrain, InitFromStartsFromAnotherRunsWeights) {
  ScratchDir dir("init_from");
  TrainOptions first = tiny_options(tiny_corpus(dir), dir / "first");
  first.steps = 10;
  (void)train(first);
  const Checkpoint source = load_checkpoint(first.out, LoadParts::Model);

  // The model options come from the checkpoint unless given.
  TrainOptions options;
  options.data = first.data;
  options.out = dir / "tuned";
  options.steps = 5;
  options.eval_batch = 4;
  options.init_from = first.out;
  take_model_options(options, source.model, source.vocab, {"steps", "data", "out", "init-from", "eval-batch"});
  EXPECT_EQ(options.hidden, 16);
  EXPECT_EQ(options.embedding, 8);
  EXPECT_EQ(options.dropout, 0.1);
  options.batch = 4, options.bptt = 8, options.eval_bptt = 16;
  CollectingReporter reporter;
  {
    Trainer tuned(options, reporter);
    for (const auto& [name, tensor] : tuned.model().state_dict()) {
      EXPECT_EQ(tensor.to_vector<float>(), source.weights.at(name).to_vector<float>()) << name;
    }
    const TrainResult result = tuned.run();
    EXPECT_EQ(result.step, 5);
  }
  const nlohmann::json config = nlohmann::json::parse(testing::read_text(options.out + "/config.json"));
  EXPECT_EQ(config["train"]["init-from"], first.out);
}

// config.json holds the values used, never the placeholders of "the default".
TEST(LmTrain, ConfigJsonRecordsTheValuesUsed) {
  ScratchDir dir("effective");
  TrainOptions options = tiny_options(tiny_corpus(dir), dir / "run");
  options.optimizer = "adamw";
  options.lr = 0.0, options.weight_decay = -1.0, options.eval_every = 0, options.log_every = 0;
  options.steps = 12;
  (void)train(options);
  const nlohmann::json train_options = nlohmann::json::parse(testing::read_text(options.out + "/config.json"))["train"];
  EXPECT_EQ(train_options["lr"], 5e-3);
  EXPECT_EQ(train_options["weight-decay"], 0.01);
  EXPECT_EQ(train_options["eval-every"], 3);  // 5 evaluations per run (the last at the end)
  EXPECT_EQ(train_options["log-every"], 1);   // up to 200 rows per run
  const std::vector<MetricsRow> rows =
      parse_metrics_csv(testing::read_text(options.out + "/metrics.csv"), "metrics.csv");
  EXPECT_EQ(rows.size(), 12u);
  // A time-bounded run spreads its evaluations over its time: no interval in steps stands for that.
  TrainOptions timed = options;
  timed.steps = 0, timed.minutes = 1.0;
  timed.fill_defaults();
  EXPECT_EQ(timed.eval_every, 0);
  EXPECT_EQ(timed.lr, 5e-3);
}

// recur train --config: a run's config.json, with the command line's options over it.
TEST(LmTrain, OptionsFromAConfigFileTakeTheCommandLineOverThem) {
  TrainOptions recorded;
  recorded.data = "a.txt", recorded.out = "runs/a", recorded.hidden = 48, recorded.lr = 0.02, recorded.steps = 100;
  const nlohmann::json config = {{"threads", 1}, {"train", recorded}};
  TrainOptions command_line;
  command_line.steps = 7;
  const TrainOptions options = options_from_config(config, "c.json", command_line, {"steps"});
  EXPECT_EQ(options.hidden, 48);
  EXPECT_EQ(options.lr, 0.02);
  EXPECT_EQ(options.data, "a.txt");
  EXPECT_EQ(options.steps, 7);
  EXPECT_EQ(options.out, "");  // a new run gets its own folder
  EXPECT_EQ(options_from_config(nlohmann::json(recorded), "t.json", command_line, {}).hidden, 48);  // "train" alone
  try {
    (void)options_from_config({{"train", {{"hiden", 3}}}}, "bad.json", command_line, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "--config bad.json: training options: unknown option \"hiden\"");
  }
}

TEST(LmTrain, DrawSymbolFollowsTemperatureAndTopK) {
  const std::vector<float> logits = {0.0f, 2.0f, 1.0f};
  EXPECT_EQ(draw_symbol(logits, 0.0, 0, 0.999), 1);
  EXPECT_EQ(draw_symbol(logits, 1.0, 1, 0.999), 1);
  EXPECT_EQ(draw_symbol(logits, 1.0, 0, 1e-6), 1);  // the most likely comes first
  EXPECT_EQ(draw_symbol(logits, 1.0, 0, 1.0), 0);   // the least likely last
  EXPECT_EQ(draw_symbol(logits, 1.0, 2, 1.0), 2);   // top-2 excludes symbol 0
}

}  // namespace
}  // namespace recur::lm
