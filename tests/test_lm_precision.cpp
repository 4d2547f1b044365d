// `recur train --precision f32|bf16|auto` (examples/lm/train_options.h, backends/settings.h):
// bfloat16 GEMM operands learn as well as float32 on the same tokens, a bfloat16 run resumes bit
// for bit, and the option is checked and kept by a resumed run. The runs that multiply in
// bfloat16 are skipped, with the reason, on a CPU without bfloat16 GEMM instructions.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "backends/settings.h"
#include "core/error.h"
#include "examples/lm/trainer.h"
#include "test_lm_util.h"

namespace recur::lm {
namespace {

using ::testing::HasSubstr;
using testing::ScratchDir;
using testing::tiny_corpus;
using testing::tiny_options;

std::string skip_reason() {
  std::string why;
  return cpu_bfloat16_gemm_available(&why) ? std::string() : why;
}

// The losses of every step and the messages of the trainers that report to it.
struct Recorder {
  std::vector<double> losses;
  CollectingReporter reporter;
  TrainHooks hooks() {
    TrainHooks hooks;
    hooks.on_step = [this](int64_t, double loss) { losses.push_back(loss); };
    return hooks;
  }
};

// Trains a new run to its end; the precision is float32 again afterwards.
TrainResult train(const TrainOptions& options, Recorder& recorder) {
  Trainer trainer(options, recorder.reporter, recorder.hooks());
  const TrainResult result = trainer.run();
  set_cpu_gemm_precision(CpuGemmPrecision::Float32);
  return result;
}

// A 1-layer LSTM of 48 units, 250 steps of 8 x 16 characters: the validation losses of the two
// precisions (the same tokens, weights and dropout masks) agree within 0.01 nats per character.
TEST(LmPrecision, Bfloat16ValidationLossIsWithinOneHundredthOfFloat32) {
  if (const std::string why = skip_reason(); !why.empty()) GTEST_SKIP() << why;
  const int saved_threads = get_num_threads();
  set_num_threads(1);  // a model this small gains nothing from a second thread on a loaded machine
  ScratchDir dir("precision_loss");
  TrainOptions options = tiny_options(tiny_corpus(dir, 20000), dir / "f32");
  options.layers = 1;
  options.hidden = 48;
  options.embedding = 16;
  options.batch = 8;
  options.bptt = 16;
  options.steps = 250;
  options.eval_every = 250;
  options.eval_batch = 8;
  options.eval_bptt = 64;
  Recorder f32, bf16;
  const double f32_loss = train(options, f32).validation.loss;
  options.out = dir / "bf16";
  options.precision = "bf16";
  const double bf16_loss = train(options, bf16).validation.loss;
  EXPECT_THAT(bf16.reporter.messages, ::testing::Contains(HasSubstr("CPU GEMM operands: bfloat16")));
  EXPECT_LT(f32_loss, 2.6) << "the float32 run did not learn";
  EXPECT_NEAR(bf16_loss, f32_loss, 0.01);
  EXPECT_NE(bf16.losses, f32.losses) << "bfloat16 computed float32's losses";
  RecordProperty("f32_validation_loss", std::to_string(f32_loss));
  RecordProperty("bf16_validation_loss", std::to_string(bf16_loss));
  set_num_threads(saved_threads);
}

TEST(LmPrecision, Bfloat16RunResumesBitIdentical) {
  if (const std::string why = skip_reason(); !why.empty()) GTEST_SKIP() << why;
  ScratchDir dir("precision_resume");
  TrainOptions options = tiny_options(tiny_corpus(dir), dir / "straight");
  options.precision = "bf16";
  options.decay_steps = 40;
  Recorder straight, split;
  const TrainResult straight_end = train(options, straight);

  options.out = dir / "split";
  options.steps = 20;
  (void)train(options, split);
  TrainOptions to_40;
  to_40.steps = 40;
  std::unique_ptr<Trainer> second_half = Trainer::resume(options.out, to_40, {"steps"}, split.reporter, split.hooks());
  EXPECT_EQ(cpu_gemm_precision(), CpuGemmPrecision::BFloat16);
  const TrainResult split_end = second_half->run();
  set_cpu_gemm_precision(CpuGemmPrecision::Float32);
  ASSERT_EQ(straight.losses.size(), split.losses.size());
  for (size_t i = 0; i < split.losses.size(); ++i) {
    EXPECT_EQ(std::memcmp(&straight.losses[i], &split.losses[i], sizeof(double)), 0) << "step " << i + 1;
  }
  EXPECT_EQ(split_end.validation.loss, straight_end.validation.loss);
}

// An `auto` run resumes with the precision it chose (recorded as "cpu_gemm_precision"), not the
// one auto would choose now: here the record says the other precision, as another CPU would have
// chosen, and the resumed run multiplies in that one.
TEST(LmPrecision, AutoRunResumesWithThePrecisionItChose) {
  ScratchDir dir("precision_auto_resume");
  TrainOptions options = tiny_options(tiny_corpus(dir), dir / "run");
  options.precision = "auto";
  options.steps = 5;
  Recorder recorder;
  (void)train(options, recorder);
  const bool bf16_here = cpu_bfloat16_gemm_available();
  const CpuGemmPrecision chosen = choose_cpu_gemm_precision("auto").precision;
  const std::string other = !bf16_here || chosen == CpuGemmPrecision::BFloat16 ? "f32" : "bf16";
  int rewritten = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(options.out)) {
    if (entry.path().filename() != "config.json") continue;
    nlohmann::json config = nlohmann::json::parse(std::ifstream(entry.path()));
    ASSERT_TRUE(config.contains("cpu_gemm_precision")) << entry.path();
    config["cpu_gemm_precision"] = other;
    std::ofstream(entry.path()) << config.dump(2);
    ++rewritten;
  }
  ASSERT_GT(rewritten, 0);
  TrainOptions requested;
  requested.steps = 6;
  std::unique_ptr<Trainer> resumed = Trainer::resume(options.out, requested, {"steps"}, recorder.reporter);
  EXPECT_EQ(cpu_gemm_precision_name(cpu_gemm_precision()), other);
  EXPECT_THAT(recorder.reporter.messages,
              ::testing::Contains(HasSubstr("--precision auto: the run chose " + other + " GEMM operands")));
  (void)resumed->run();
  set_cpu_gemm_precision(CpuGemmPrecision::Float32);
}

TEST(LmPrecision, ResumeRefusesAnotherPrecision) {
  ScratchDir dir("precision_mismatch");
  TrainOptions options = tiny_options(tiny_corpus(dir), dir / "run");
  options.steps = 5;
  Recorder recorder;
  (void)train(options, recorder);
  TrainOptions requested;
  requested.precision = "bf16";
  try {
    (void)Trainer::resume(options.out, requested, {"precision"}, recorder.reporter);
    FAIL() << "a resumed run changed its precision";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("--precision is \"bf16\" but the run being resumed used \"f32\""));
  }
}

TEST(LmPrecision, OptionIsCheckedAgainstItsChoicesTheDtypeAndTheDevice) {
  TrainOptions options = tiny_options("corpus.txt", "run");
  options.precision = "fp16";
  EXPECT_THAT([&] { options.validate(); },
              ::testing::ThrowsMessage<Error>(HasSubstr("--precision must be f32, bf16 or auto, got 'fp16'")));
  options.precision = "bf16";
  options.dtype = "float64";
  EXPECT_THAT([&] { options.validate(); },
              ::testing::ThrowsMessage<Error>(HasSubstr("--precision bf16 rounds the operands of float32 GEMMs")));
  options.dtype = "float32";
  options.device = "cuda";
  EXPECT_THAT([&] { options.validate(); },
              ::testing::ThrowsMessage<Error>(HasSubstr("--precision bf16 is the precision of the CPU's GEMMs")));
  options.device = "cpu";
  options.validate();
}

}  // namespace
}  // namespace recur::lm
