// recur convert --from tensorflow PREFIX --out DIR [--forget-bias F] [--cell-clip C] [--proj-clip P]
//               [--activation tanh|relu] [--scope S]
// recur convert --from tensorflow PREFIX --out DIR --vocab TEXT_FILE|bytes
// recur convert --from tensorflow PREFIX --list
//
// Reads a TensorFlow checkpoint (PREFIX.index and PREFIX.data-*-of-*, nn/tf_checkpoint.h), maps
// its recurrent cells onto recur's RNN weights (nn/tf_rnn_convert.h: Keras LSTM and GRU layers,
// LSTMCell, CudnnLSTM's and CudnnGRU's canonical cells) and writes DIR/rnn.safetensors: the
// weights under recur's names, with the RNN's options in the metadata in the form of an RNN case
// (examples/rnn_case.h), so that rnn_case::options and nn::RNN load it. Prints each weight and where it
// came from, and the checkpoint's tensors that belong to no cell. With --vocab, the checkpoint is
// a Keras character model (Embedding -> recurrent layers -> Dense, examples/lm/tf_import.h) and
// DIR/model.safetensors is recur's language model, which `recur sample DIR` and `recur eval DIR`
// run; the vocabulary is the sorted characters of TEXT_FILE, or all 256 bytes. --list prints the checkpoint's
// tensors (name, dtype, shape, shard, bytes) and converts nothing.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "examples/command.h"
#include "examples/lm/checkpoint.h"
#include "examples/lm/tf_import.h"
#include "examples/rnn_case.h"
#include "nn/rnn.h"
#include "nn/safetensors.h"
#include "nn/tf_checkpoint.h"
#include "nn/tf_rnn_convert.h"

namespace recur::cli {
namespace {

struct ConvertOptions {
  std::string from = "tensorflow";
  std::string prefix;
  std::string out;
  std::optional<double> forget_bias;
  std::string scope;
  double cell_clip = 0.0, proj_clip = 0.0;
  std::string activation = "tanh";
  std::string vocab;
  bool list = false;
};

lm::Vocabulary read_vocabulary(const std::string& given) {
  if (given == "bytes") return lm::Vocabulary::build("-", lm::VocabKind::Bytes);
  std::ifstream in(given, std::ios::binary);
  RECUR_CHECK(in.good(), "convert: cannot read the vocabulary text '{}' (expected a text file, or 'bytes')", given);
  std::ostringstream text;
  text << in.rdbuf();
  return lm::Vocabulary::build(text.str(), lm::VocabKind::Chars, given);
}

// Writes DIR/model.safetensors, recur's language model, from a Keras character model.
int write_language_model(const nn::TfCheckpoint& checkpoint, const nn::TfConversion& conversion,
                         const ConvertOptions& options) {
  const lm::Vocabulary vocab = read_vocabulary(options.vocab);
  const lm::TfLanguageModel model = lm::convert_tf_language_model(checkpoint, conversion, vocab);
  lm::LanguageModel check(model.config, 0);  // what was converted must load
  check.to(model.weights.begin()->second.dtype());
  check.load_state_dict(model.weights);
  std::filesystem::create_directories(options.out);
  const std::string path = (std::filesystem::path(options.out) / "model.safetensors").string();
  nn::save_safetensors(path, model.weights, lm::model_metadata(model.config, vocab, 0));
  fmt::print("{}: a language model, {}\n", checkpoint.name(), model.config.summary());
  for (const std::string& line : model.mapping) fmt::print("  {}\n", line);
  for (const std::string& line : conversion.mapping) fmt::print("  rnn.{}\n", line);
  fmt::print(
      "wrote {} weights to {} (run it with: recur sample --checkpoint {}, recur eval --checkpoint {} --data FILE)\n",
      model.weights.size(), path, options.out, options.out);
  return 0;
}

int list_checkpoint(const nn::TfCheckpoint& checkpoint) {
  size_t name_width = 4;
  for (const nn::TfCheckpointEntry& entry : checkpoint.entries()) name_width = std::max(name_width, entry.name.size());
  fmt::print("{}: {} tensors in {} shard{}\n", checkpoint.name(), checkpoint.entries().size(), checkpoint.num_shards(),
             checkpoint.num_shards() == 1 ? "" : "s");
  fmt::print("  {:<{}}  {:<9}  {:<14}  {:>5}  {:>10}\n", "name", name_width, "dtype", "shape", "shard", "bytes");
  for (const nn::TfCheckpointEntry& entry : checkpoint.entries()) {
    fmt::print("  {:<{}}  {:<9}  {:<14}  {:>5}  {:>10}{}\n", entry.name, name_width, entry.dtype_name,
               shape_str(entry.shape), entry.shard, entry.size, entry.sliced ? "  (partitioned)" : "");
  }
  return 0;
}

int run_convert(const ConvertOptions& options) {
  const nn::TfCheckpoint checkpoint = nn::TfCheckpoint::open(options.prefix);
  if (options.list) return list_checkpoint(checkpoint);
  RECUR_CHECK(!options.out.empty(), "convert: --out DIR is required (or --list to list the checkpoint)");
  const nn::TfConversion conversion =
      nn::convert_tf_rnn(checkpoint, {options.forget_bias, options.scope, options.cell_clip, options.proj_clip,
                                      options.activation == "relu" ? nn::Activation::Relu : nn::Activation::Tanh});
  if (!options.vocab.empty()) return write_language_model(checkpoint, conversion, options);
  // The options as an RNN case's metadata, and where they came from.
  rnn_case::Metadata metadata = rnn_case::metadata(conversion.options);
  metadata["source"] = "tensorflow:" + std::filesystem::path(options.prefix).filename().string();
  metadata["tf_layout"] = conversion.layout;
  metadata["tf_forget_bias_folded"] = fmt::format("{}", conversion.forget_bias_folded);
  // What was written must load: the options from the metadata, the weights by name and shape.
  nn::RNN check(rnn_case::options(metadata));
  check.to(conversion.weights.begin()->second.dtype());
  check.load_state_dict(conversion.weights);

  std::filesystem::create_directories(options.out);
  const std::string path = (std::filesystem::path(options.out) / "rnn.safetensors").string();
  nn::save_safetensors(path, conversion.weights, metadata);
  const nn::RNNOptions& o = conversion.options;
  fmt::print(
      "{}: {} ({}), {} layer{}, {}, input {}, hidden {}{}{}{}\n", checkpoint.name(), conversion.layout,
      nn::mode_name(o.mode), o.num_layers, o.num_layers == 1 ? "" : "s",
      o.direction == nn::Direction::Bidirectional ? "bidirectional" : "unidirectional", o.input_size, o.hidden_size,
      o.proj_size ? fmt::format(", projection {}", o.proj_size) : "", o.use_peepholes ? ", peepholes" : "",
      o.mode == nn::RNNMode::GRU && o.gru_variant == nn::GRUVariant::ResetBeforeLinear ? ", reset before linear" : "");
  for (const std::string& line : conversion.mapping) fmt::print("  {}\n", line);
  if (conversion.forget_bias_folded != 0) {
    fmt::print("forget_bias {} (LSTMCell's, added at run time in TensorFlow) is folded into bias_ih's f blocks\n",
               conversion.forget_bias_folded);
  }
  for (const std::string& name : conversion.left_out) fmt::print("left out (no part of a cell): {}\n", name);
  fmt::print("wrote {} weights ({} elements) to {}\n", conversion.weights.size(), check.count_params(), path);
  return 0;
}

}  // namespace

Command add_convert_command(CLI::App& parent) {
  auto options = std::make_shared<ConvertOptions>();
  CLI::App* app = parent.add_subcommand("convert", "Convert another framework's RNN checkpoint into recur's weights");
  app->add_option("--from", options->from, "the checkpoint's framework")->check(CLI::IsMember({"tensorflow"}));
  app->add_option("prefix", options->prefix, "the checkpoint prefix (PREFIX.index, PREFIX.data-*-of-*)")->required();
  app->add_option("--out", options->out, "the folder to write rnn.safetensors to");
  app->add_option("--forget-bias", options->forget_bias,
                  "LSTMCell's forget_bias, folded into the forget gate's bias (default 1.0, TensorFlow's)");
  app->add_option("--cell-clip", options->cell_clip, "LSTMCell's cell_clip (0 = none), which no checkpoint holds")
      ->check(CLI::NonNegativeNumber);
  app->add_option("--proj-clip", options->proj_clip, "LSTMCell's proj_clip (0 = none), which no checkpoint holds")
      ->check(CLI::NonNegativeNumber);
  app->add_option("--activation", options->activation, "LSTMCell's activation, which no checkpoint holds")
      ->check(CLI::IsMember({"tanh", "relu"}))
      ->capture_default_str();
  app->add_option("--scope", options->scope, "convert only the variables whose names start with this");
  app->add_option("--vocab", options->vocab,
                  "convert a Keras character model (Embedding, RNN, Dense) into DIR/model.safetensors: its vocabulary "
                  "is the sorted characters of this text file, or 'bytes'");
  app->add_flag("--list", options->list, "list the checkpoint's tensors and convert nothing");
  return {app, [options] { return run_convert(*options); }};
}

}  // namespace recur::cli
