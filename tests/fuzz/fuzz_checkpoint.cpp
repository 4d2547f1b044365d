// A language-model checkpoint's text parts (examples/lm/checkpoint.h, train_options.h), read by
// load_checkpoint from a real folder as `recur train --resume`, `sample` and `eval` do. The first
// byte picks which part the rest replaces in an otherwise valid checkpoint:
//   0: state.json   1: config.json   2: model.safetensors' "model" metadata   3: its "vocab"
// model.safetensors holds the weights of the unchanged configuration, so a "model" metadata of
// other sizes must be refused before a model of its sizes is built. Then, as Trainer::resume
// does, config.json's "train" object becomes TrainOptions, and a checkpoint that loads builds
// its model (model_from_checkpoint), which must then be the small one.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "examples/lm/checkpoint.h"
#include "examples/lm/train_options.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A checkpoint folder of this process, removed at exit.
struct Folder {
  fs::path path;
  Folder() {
    const fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    path = base / ("recur-fuzz-checkpoint-" + std::to_string(::getpid()));
    fs::create_directories(path);
  }
  ~Folder() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

void write(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// A safetensors file with the given metadata and float32 zeros of the given shapes (nullopt:
// the text is not UTF-8, which no file's metadata can hold).
std::optional<std::string> safetensors_of(const std::map<std::string, std::string>& metadata,
                                          const std::vector<recur::nn::RNNWeightShape>& tensors = {}) {
  json header_json = {{"__metadata__", metadata}};
  uint64_t data_size = 0;
  for (const auto& [name, shape] : tensors) {
    const uint64_t end = data_size + 4 * static_cast<uint64_t>(recur::numel_of(shape));
    header_json[name] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {data_size, end}}};
    data_size = end;
  }
  std::string header;
  try {
    header = header_json.dump();
  } catch (const json::exception&) {
    return std::nullopt;
  }
  std::string bytes(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  return bytes + header + std::string(data_size, '\0');
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace recur::lm;
  static const Folder folder;
  if (size == 0) return 0;
  const int part = data[0] % 4;
  const std::string text = recur::fuzz::bytes_of(data + 1, size - 1);

  ModelConfig model;
  model.vocab_size = 2;
  model.embedding_dim = 4;
  model.rnn.input_size = 4;
  model.rnn.hidden_size = 4;
  std::map<std::string, std::string> metadata = {{"format", "recur-lm"},
                                                 {"model", json(model).dump()},
                                                 {"vocab", R"({"kind":"bytes","symbols":[97,98]})"},
                                                 {"step", "0"}};
  std::string state = json(TrainProgress{}).dump(), config = json{{"train", TrainOptions{}}, {"data", {}}}.dump();
  if (part == 0) state = text;
  if (part == 1) config = text;
  if (part == 2) metadata["model"] = text;
  if (part == 3) metadata["vocab"] = text;
  // The weights of `model`, whatever the metadata says (load_checkpoint matches the two).
  const std::optional<std::string> model_file = safetensors_of(metadata, weight_shapes(model));
  if (!model_file) return 0;
  write(folder.path / "model.safetensors", *model_file);
  write(folder.path / "optimizer.safetensors", *safetensors_of({}));
  write(folder.path / "carry.safetensors", *safetensors_of({}));
  write(folder.path / "state.json", state);
  write(folder.path / "config.json", config);

  return recur::fuzz::run([&] {
    const Checkpoint checkpoint = load_checkpoint(folder.path.string(), LoadParts::ModelAndTrainingState);
    RECUR_FUZZ_ASSERT(checkpoint.vocab.size() == checkpoint.model.vocab_size);
    const std::unique_ptr<LanguageModel> built = model_from_checkpoint(checkpoint);
    RECUR_FUZZ_ASSERT(built->num_parameters() == LanguageModel(model, 0).num_parameters());
    if (checkpoint.config.contains("train") && checkpoint.config.contains("data")) {
      const TrainOptions options = checkpoint.config.at("train").get<TrainOptions>();
      options.validate();
    }
  });
}
