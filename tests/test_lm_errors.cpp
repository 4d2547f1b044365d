// Bad input to the language-model trainer: one clear recur::Error, and nothing half-written.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "backends/backend.h"
#include "core/error.h"
#include "examples/lm/checkpoint.h"
#include "examples/lm/evaluate.h"
#include "examples/lm/run_lock.h"
#include "examples/lm/trainer.h"
#include "nn/safetensors.h"
#include "test_lm_util.h"

namespace recur::lm {
namespace {

namespace fs = std::filesystem;
using testing::ScratchDir;
using testing::tiny_corpus;
using testing::tiny_options;

// The message of the recur::Error fn throws ("" when it throws none).
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR_CONTAINS(statement, text)                                             \
  do {                                                                                     \
    const std::string message_ = error_of([&] { statement; });                             \
    EXPECT_NE(message_.find(text), std::string::npos) << "error: '" << message_ << "'";    \
    EXPECT_EQ(message_.find('\n'), std::string::npos) << "one line: '" << message_ << "'"; \
  } while (0)

std::string trained_run(ScratchDir& dir, const std::string& name, const std::function<void(TrainOptions&)>& edit = {}) {
  TrainOptions options = tiny_options(tiny_corpus(dir), dir / name);
  options.steps = 4;
  options.lr = 0.0;  // adam's default
  if (edit) edit(options);
  CollectingReporter reporter;
  Trainer trainer(options, reporter);
  (void)trainer.run();
  return options.out;
}

TEST(LmErrors, BadDataLeavesNoRunFolder) {
  ScratchDir dir("bad_data");
  CollectingReporter reporter;
  TrainOptions options = tiny_options(dir / "missing.txt", dir / "run");
  EXPECT_ERROR_CONTAINS(Trainer(options, reporter), "cannot read data file '" + options.data + "'");
  testing::write_text(dir / "empty.txt", "");
  options.data = dir / "empty.txt";
  EXPECT_ERROR_CONTAINS(Trainer(options, reporter), "is empty");
  testing::write_text(dir / "short.txt", "To be, or not to be.");
  options.data = dir / "short.txt";
  EXPECT_ERROR_CONTAINS(Trainer(options, reporter), "shorter than one batch");
  testing::write_text(dir / "latin1.txt", std::string(500, 'a') + "\xe9t\xe9");
  options.data = dir / "latin1.txt";
  EXPECT_ERROR_CONTAINS(Trainer(options, reporter), "is not valid UTF-8");
  EXPECT_FALSE(fs::exists(dir / "run"));
}

TEST(LmErrors, BadOptionValuesNameTheOption) {
  ScratchDir dir("bad_options");
  CollectingReporter reporter;
  const TrainOptions good = tiny_options(tiny_corpus(dir), dir / "run");
  auto with = [&](const std::function<void(TrainOptions&)>& edit) {
    TrainOptions options = good;
    edit(options);
    return options;
  };
  EXPECT_ERROR_CONTAINS(Trainer(with([](TrainOptions& o) { o.optimizer = "adamax"; }), reporter),
                        "unknown --optimizer 'adamax'");
  EXPECT_ERROR_CONTAINS(Trainer(with([](TrainOptions& o) { o.lr_schedule = "linear"; }), reporter),
                        "unknown --lr-schedule 'linear'");
  EXPECT_ERROR_CONTAINS(Trainer(with([](TrainOptions& o) { o.mode = "transformer"; }), reporter), "'transformer'");
  EXPECT_ERROR_CONTAINS(Trainer(with([](TrainOptions& o) { o.bidirectional = true; }), reporter),
                        "--bidirectional cannot be used for a language model");
  EXPECT_ERROR_CONTAINS(Trainer(with([](TrainOptions& o) { o.steps = 0, o.minutes = 0; }), reporter), "--steps");
  EXPECT_ERROR_CONTAINS(Trainer(with([](TrainOptions& o) { o.dropout = 1.5; }), reporter), "--dropout");
  EXPECT_ERROR_CONTAINS(Trainer(with([](TrainOptions& o) { o.proj = 32; }), reporter), "proj_size");
  EXPECT_ERROR_CONTAINS(Trainer(with([](TrainOptions& o) { o.device = "tpu"; }), reporter), "tpu");
  EXPECT_FALSE(fs::exists(dir / "run"));
}

TEST(LmErrors, CudaWithoutAGpuIsAClearError) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a GPU is visible";
  ScratchDir dir("cuda");
  CollectingReporter reporter;
  TrainOptions options = tiny_options(tiny_corpus(dir), dir / "run");
  options.device = "cuda";
  EXPECT_ERROR_CONTAINS(Trainer(options, reporter), "--device cuda: cuda:0 requested, but no CUDA device is visible");
}

TEST(LmErrors, ResumingWithAnotherModelOrDataIsRefused) {
  ScratchDir dir("resume_mismatch");
  const std::string run = trained_run(dir, "run");
  CollectingReporter reporter;
  TrainOptions requested;
  requested.hidden = 32;
  EXPECT_ERROR_CONTAINS((void)Trainer::resume(run, requested, {"hidden"}, reporter),
                        "--hidden is 32 but the run being resumed used 16");
  requested = TrainOptions{};
  requested.lr = 0.001;  // the run used the optimizer's default, which the message names
  EXPECT_ERROR_CONTAINS((void)Trainer::resume(run, requested, {"lr"}, reporter),
                        "--lr is 0.001 but the run being resumed used 0.005");
  requested.lr = 0.005;
  EXPECT_NO_THROW((void)Trainer::resume(run, requested, {"lr"}, reporter));
  requested = TrainOptions{};
  requested.vocab = "bytes";
  EXPECT_ERROR_CONTAINS((void)Trainer::resume(run, requested, {"vocab"}, reporter),
                        "--vocab is \"bytes\" but the run being resumed used \"chars\"");
  testing::write_text(dir / "other.txt", generate_corpus(1500, 99));
  requested = TrainOptions{};
  requested.data = dir / "other.txt";
  EXPECT_ERROR_CONTAINS((void)Trainer::resume(run, requested, {"data"}, reporter),
                        "is not the one this run was trained on");
  EXPECT_ERROR_CONTAINS((void)Trainer::resume(dir / "nothing", TrainOptions{}, {}, reporter), "no such run folder");
  // A new run into a folder that holds one is refused too.
  TrainOptions again = tiny_options(dir / "corpus.txt", run);
  EXPECT_ERROR_CONTAINS(Trainer(again, reporter), "already holds a run");
}

TEST(LmErrors, ARunFolderInUseIsRefusedNamingItsProcess) {
  ScratchDir dir("in_use");
  const std::string run = trained_run(dir, "run");
  CollectingReporter reporter;
  const std::string in_use = fmt::format("run folder '{}' is in use by process {}", run, ::getpid());
  {
    const std::unique_ptr<Trainer> holder = Trainer::resume(run, TrainOptions{}, {}, reporter);
    EXPECT_ERROR_CONTAINS((void)Trainer::resume(run, TrainOptions{}, {}, reporter), in_use);
    EXPECT_EQ(testing::read_text(run_lock_path(run)), fmt::format("{}\n", ::getpid()));
  }
  EXPECT_NO_THROW((void)Trainer::resume(run, TrainOptions{}, {}, reporter));  // released with its trainer
  // A new run holds its folder from its creation.
  TrainOptions options = tiny_options(dir / "corpus.txt", dir / "new");
  Trainer fresh(options, reporter);
  EXPECT_ERROR_CONTAINS((void)Trainer::resume(options.out, TrainOptions{}, {}, reporter), "is in use by process");
}

TEST(LmErrors, InitFromAnotherModelOrVocabularyIsRefused) {
  ScratchDir dir("init_from_mismatch");
  const std::string run = trained_run(dir, "run");
  CollectingReporter reporter;
  TrainOptions options = tiny_options(dir / "corpus.txt", dir / "tuned");
  options.init_from = run;
  options.hidden = 32;
  EXPECT_ERROR_CONTAINS(Trainer(options, reporter), "--init-from " + run + ": its model is a 2-layer LSTM");
  options.hidden = 16;
  testing::write_text(dir / "other.txt", testing::read_text(dir / "corpus.txt") + "~");
  options.data = dir / "other.txt";
  EXPECT_ERROR_CONTAINS(Trainer(options, reporter),
                        "--init-from " + run + ": data file '" + options.data + "': '~' at byte ");
  options.data = dir / "corpus.txt";
  options.vocab = "bytes";
  EXPECT_ERROR_CONTAINS(Trainer(options, reporter), "its vocabulary is of chars, but --vocab is bytes");
  options.init_from = dir / "nothing";
  EXPECT_ERROR_CONTAINS(Trainer(options, reporter), "does not exist");
  EXPECT_FALSE(fs::exists(dir / "tuned"));
}

TEST(LmErrors, CheckpointOfAnotherShapeOrVocabularyIsRefused) {
  ScratchDir dir("other_shape");
  const std::string small = trained_run(dir, "small");
  const std::string large = trained_run(dir, "large", [](TrainOptions& o) { o.hidden = 24; });
  // Weights of one model under the other's configuration.
  fs::copy_file(large + "/checkpoint/model.safetensors", small + "/checkpoint/model.safetensors",
                fs::copy_options::overwrite_existing);
  // The metadata describes the large model: loading gives the large model.
  EXPECT_EQ(load_checkpoint(small, LoadParts::Model).model.rnn.hidden_size, 24);
  // Resuming the small run with it: refused, naming both.
  CollectingReporter reporter;
  EXPECT_ERROR_CONTAINS((void)Trainer::resume(small, TrainOptions{}, {}, reporter),
                        "hidden_size: 24 in the checkpoint");
  // A text with symbols the vocabulary lacks cannot be evaluated.
  const Checkpoint checkpoint = load_checkpoint(large, LoadParts::Model);
  auto model = model_from_checkpoint(checkpoint);
  EXPECT_ERROR_CONTAINS((void)checkpoint.vocab.encode("zebra ~ \xc3\xa9", "data file 'x'"),
                        "is not in the model's vocabulary");
}

// Rewrites a checkpoint's model.safetensors with its "model" metadata edited, the weights kept.
void edit_model_metadata(const std::string& model_path, const std::function<void(nlohmann::json&)>& edit) {
  nn::SafetensorsFile file = nn::load_safetensors(model_path);
  nlohmann::json model = nlohmann::json::parse(file.metadata.at("model"));
  edit(model);
  file.metadata["model"] = model.dump();
  nn::save_safetensors(model_path, file.tensors, file.metadata);
}

TEST(LmErrors, ConfigurationLargerThanItsWeightsIsRefusedBeforeTheModelIsBuilt) {
  ScratchDir dir("outgrown");
  const std::string run = trained_run(dir, "run");  // 2-layer LSTM, embedding 8, hidden 16
  const std::string model_path = run + "/checkpoint/model.safetensors";
  const std::string original = testing::read_text(model_path);
  CollectingReporter reporter;

  // Metadata naming hidden_size 2^20 over the weights of hidden size 16: building that model
  // would allocate a weight_hh_l0 of 2^42 floats. Refused from the header, naming both shapes.
  constexpr int64_t kHuge = int64_t{1} << 20;
  edit_model_metadata(model_path, [&](nlohmann::json& m) { m["rnn"]["hidden_size"] = kHuge; });
  const std::string first = "'rnn.weight_ih_l0' is [64, 8], expected [4194304, 8]";
  EXPECT_ERROR_CONTAINS((void)load_checkpoint(run, LoadParts::Model),
                        model_path + " does not match its own configuration (2-layer LSTM, hidden 1048576");
  EXPECT_ERROR_CONTAINS((void)load_checkpoint(run, LoadParts::Model), first);
  EXPECT_ERROR_CONTAINS((void)load_checkpoint(run, LoadParts::Model), "[4194304]; and 5 more");
  EXPECT_ERROR_CONTAINS((void)Trainer::resume(run, TrainOptions{}, {}, reporter), first);

  // model_from_checkpoint checks a checkpoint assembled in memory the same way.
  testing::write_text(model_path, original);
  Checkpoint checkpoint = load_checkpoint(run, LoadParts::Model);
  checkpoint.model.rnn.hidden_size = kHuge;
  EXPECT_ERROR_CONTAINS((void)model_from_checkpoint(checkpoint), first);

  // Sizes whose products overflow int64, more layers than the file has tensors, fewer layers.
  edit_model_metadata(model_path, [](nlohmann::json& m) { m["rnn"]["hidden_size"] = int64_t{1} << 62; });
  EXPECT_ERROR_CONTAINS((void)load_checkpoint(run, LoadParts::Model),
                        "gates x hidden_size (4 x 4611686018427387904) overflows");
  testing::write_text(model_path, original);
  edit_model_metadata(model_path, [](nlohmann::json& m) { m["rnn"]["num_layers"] = int64_t{1000000000000}; });
  EXPECT_ERROR_CONTAINS((void)load_checkpoint(run, LoadParts::Model),
                        "the configuration has 1000000000000 layers, but the file holds only 11 tensors");
  testing::write_text(model_path, original);
  edit_model_metadata(model_path, [](nlohmann::json& m) { m["rnn"]["num_layers"] = 1; });
  EXPECT_ERROR_CONTAINS((void)load_checkpoint(run, LoadParts::Model),
                        "'rnn.weight_hh_l1' [64, 16] is no weight of this model");

  // The run's options (its checkpoint's config.json) asking for a larger model than the
  // checkpoint's: refused before that model is built.
  testing::write_text(model_path, original);
  const std::string config_path = run + "/checkpoint/config.json";
  nlohmann::json config = nlohmann::json::parse(testing::read_text(config_path));
  config["train"]["hidden"] = kHuge;
  testing::write_text(config_path, config.dump(2));
  EXPECT_ERROR_CONTAINS((void)Trainer::resume(run, TrainOptions{}, {}, reporter),
                        "hidden_size: 16 in the checkpoint, 1048576 requested");
}

TEST(LmErrors, CorruptCheckpointsAreClearErrors) {
  ScratchDir dir("corrupt");
  const std::string run = trained_run(dir, "run");
  const std::string model_path = run + "/checkpoint/model.safetensors";
  const std::string original = testing::read_text(model_path);
  CollectingReporter reporter;

  testing::write_text(model_path, original.substr(0, original.size() / 2));  // truncated
  EXPECT_ERROR_CONTAINS((void)load_checkpoint(run, LoadParts::Model), "model.safetensors");
  EXPECT_ERROR_CONTAINS((void)Trainer::resume(run, TrainOptions{}, {}, reporter), "model.safetensors");
  testing::write_text(model_path, "garbage");
  EXPECT_ERROR_CONTAINS((void)load_checkpoint(run, LoadParts::Model), "model.safetensors");
  testing::write_text(model_path, original);
  EXPECT_NO_THROW((void)load_checkpoint(run, LoadParts::ModelAndTrainingState));

  const std::string state = testing::read_text(run + "/checkpoint/state.json");
  testing::write_text(run + "/checkpoint/state.json", "{\"step\": ");
  EXPECT_ERROR_CONTAINS((void)load_checkpoint(run, LoadParts::ModelAndTrainingState), "state.json is corrupt");
  testing::write_text(run + "/checkpoint/state.json", "{\"format\": \"recur-lm-state\", \"version\": 1}");
  EXPECT_ERROR_CONTAINS((void)load_checkpoint(run, LoadParts::ModelAndTrainingState), "state.json is corrupt");
  testing::write_text(run + "/checkpoint/state.json", state);
  EXPECT_NO_THROW((void)load_checkpoint(run, LoadParts::ModelAndTrainingState));
  fs::remove(run + "/checkpoint/optimizer.safetensors");
  EXPECT_ERROR_CONTAINS((void)Trainer::resume(run, TrainOptions{}, {}, reporter), "optimizer.safetensors");

  EXPECT_ERROR_CONTAINS((void)load_checkpoint(dir / "none", LoadParts::Model), "does not exist");
  EXPECT_ERROR_CONTAINS((void)load_checkpoint(dir.str(), LoadParts::Model), "holds no checkpoint");
  EXPECT_ERROR_CONTAINS((void)load_checkpoint(dir.str(), LoadParts::Model, Which::Best), "holds no best checkpoint");
  EXPECT_ERROR_CONTAINS((void)parse_which("worst"), "unknown checkpoint 'worst' (expected latest or best)");
}

}  // namespace
}  // namespace recur::lm
