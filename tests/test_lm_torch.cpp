// Weights saved by `recur train` load into PyTorch's nn.Embedding / nn.LSTM / nn.GRU / nn.Linear
// (strict, under the same names) and give the same validation loss there. Runs only when
// /usr/bin/python3 can import torch.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "examples/lm/checkpoint.h"
#include "examples/lm/evaluate.h"
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

TEST(LmTorch, GruOnBytesLoadsIntoPyTorchWithTheSameValidationLoss) {
  std::string why;
  if (!torch_available(&why)) GTEST_SKIP() << why;
  expect_same_loss_in_torch([](TrainOptions& o) {
    o.mode = "gru";
    o.vocab = "bytes";
    o.layers = 1;
  });
}

}  // namespace
}  // namespace recur::lm
