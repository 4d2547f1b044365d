// Weights saved by `recur train` load into PyTorch's nn.Embedding / nn.LSTM / nn.GRU / nn.Linear
// (strict, under the same names) and give the same validation loss there, and the program of
// docs/TRAINING.md runs as written. Runs only when /usr/bin/python3 can import torch.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

#include "examples/lm/checkpoint.h"
#include "examples/lm/evaluate.h"
#include "examples/lm/sampler.h"
#include "examples/lm/trainer.h"
#include "test_lm_util.h"

namespace recur::lm {
namespace {

using testing::ScratchDir;

bool torch_available(std::string* why) {
  if (std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
    *why = "/usr/bin/python3 cannot import torch";
    return false;
  }
  return true;
}

// Runs the script and returns its stdout.
std::string run_command(const std::string& command) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> pipe(::popen(command.c_str(), "r"), &::pclose);
  if (!pipe) return "";
  std::string out;
  char buffer[256];
  while (std::fgets(buffer, sizeof buffer, pipe.get()) != nullptr) out += buffer;
  return out;
}

void expect_same_loss_in_torch(const std::function<void(TrainOptions&)>& edit) {
  ScratchDir dir("torch");
  TrainOptions options = testing::tiny_options(testing::tiny_corpus(dir, 3000), dir / "run");
  options.steps = 15;
  edit(options);
  CollectingReporter reporter;
  Trainer trainer(options, reporter);
  const TrainResult result = trainer.run();

  const std::string script = std::string(RECUR_TEST_FIXTURES) + "/../lm/check_torch_load.py";
  const std::string command =
      fmt::format("/usr/bin/python3 {} {} {} {} {} {} 2>&1", script, options.out + "/checkpoint", options.data,
                  options.valid_fraction, options.eval_batch, options.eval_bptt);
  const std::string output = run_command(command);
  char* end = nullptr;
  const double torch_loss = std::strtod(output.c_str(), &end);
  ASSERT_TRUE(end != output.c_str()) << "the script failed:\n" << output;
  EXPECT_NEAR(torch_loss, result.validation.loss, 1e-5 * result.validation.loss) << output;
}

TEST(LmTorch, LstmWithProjectionLoadsIntoPyTorchWithTheSameValidationLoss) {
  std::string why;
  if (!torch_available(&why)) GTEST_SKIP() << why;
  expect_same_loss_in_torch([](TrainOptions& o) {
    o.hidden = 16;
    o.proj = 8;
    o.layers = 2;
  });
}

TEST(LmTorch, TiedWordModelLoadsIntoPyTorchWithTheSameValidationLoss) {
  std::string why;
  if (!torch_available(&why)) GTEST_SKIP() << why;
  expect_same_loss_in_torch([](TrainOptions& o) {
    o.vocab = "words";
    o.min_count = 2;
    o.embedding = 16;
    o.tie_weights = true;
  });
}

TEST(LmTorch, GruOnBytesLoadsIntoPyTorchWithTheSameValidationLoss) {
  std::string why;
  if (!torch_available(&why)) GTEST_SKIP() << why;
  expect_same_loss_in_torch([](TrainOptions& o) {
    o.mode = "gru";
    o.vocab = "bytes";
    o.layers = 1;
  });
}

// The first ```python block after the heading "## Loading the weights in PyTorch" of
// docs/TRAINING.md, as a reader would copy it.
std::string training_doc_program() {
  std::ifstream in(std::string(RECUR_TEST_FIXTURES) + "/../../docs/TRAINING.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const size_t section = doc.find("## Loading the weights in PyTorch");
  const size_t begin = doc.find("```python\n", section);
  const size_t end = doc.find("\n```\n", begin);
  if (section == std::string::npos || begin == std::string::npos || end == std::string::npos) return "";
  return doc.substr(begin + 10, end + 1 - (begin + 10));
}

TEST(LmTorch, TrainingDocProgramRunsAsWrittenAndContinuesAPromptAsRecurSampleDoes) {
  std::string why;
  if (!torch_available(&why)) GTEST_SKIP() << why;
  const std::string program = training_doc_program();
  ASSERT_FALSE(program.empty()) << "docs/TRAINING.md has no python block under \"Loading the weights in PyTorch\"";
  for (const char* mode : {"lstm", "gru", "lstm_words_tied"}) {
    ScratchDir dir(std::string("torch_doc_") + mode);
    const bool words = std::string(mode) == "lstm_words_tied";
    TrainOptions options = testing::tiny_options(testing::tiny_corpus(dir, words ? 12000 : 3000), dir / "run");
    options.steps = 15;
    options.mode = words ? "lstm" : mode;
    options.dtype = "float64";  // greedy decoding then has no near-ties that rounding could flip
    if (options.mode == "lstm") options.proj = 8;
    if (words) options.vocab = "words", options.embedding = 8, options.tie_weights = true;
    CollectingReporter reporter;
    Trainer(options, reporter).run();
    const std::string script = dir / "load_in_pytorch.py";
    {
      std::ofstream out(script);
      out << program;
    }
    const std::string output =
        run_command(fmt::format("/usr/bin/python3 {} {} KING 60 2>&1", script, options.out + "/checkpoint"));

    const Checkpoint checkpoint = load_checkpoint(options.out, LoadParts::Model);
    std::unique_ptr<LanguageModel> model = model_from_checkpoint(checkpoint);
    SampleOptions greedy;
    greedy.prompt = "KING";
    greedy.length = 60;
    greedy.temperature = 0.0;
    const std::string text = sample(*model, checkpoint.vocab, greedy, Device::cpu());
    EXPECT_EQ(output, "KING" + text + "\n") << mode;
  }
}

}  // namespace
}  // namespace recur::lm
