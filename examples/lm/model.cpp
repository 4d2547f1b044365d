#include "examples/lm/model.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "core/error.h"
#include "nn/json_integer.h"

namespace recur::lm {

void ModelConfig::validate() const {
  RECUR_CHECK(vocab_size >= 1, "the vocabulary must have at least 1 symbol, got {}", vocab_size);
  RECUR_CHECK(embedding_dim >= 1, "--embedding must be >= 1, got {}", embedding_dim);
  RECUR_CHECK(dropout >= 0.0 && dropout < 1.0, "--dropout must be in [0, 1), got {}", dropout);
  for (const auto& [name, p] : {std::pair{"--dropout-e", dropout_e},
                                {"--dropout-i", dropout_i},
                                {"--dropout-o", dropout_o},
                                {"--dropout-h", rnn.variational_dropout},
                                {"--wdrop", rnn.weight_dropout}})
    RECUR_CHECK(p >= 0.0 && p < 1.0, "{} must be in [0, 1), got {}", name, p);
  RECUR_CHECK(std::isfinite(ar) && ar >= 0.0 && std::isfinite(tar) && tar >= 0.0,
              "--ar and --tar must be >= 0, got {} and {}", ar, tar);
  RECUR_CHECK(rnn.direction == nn::Direction::Unidirectional,
              "a language model cannot use a bidirectional RNN: its reverse direction would read the characters it "
              "must predict (drop --bidirectional)");
  RECUR_CHECK(!rnn.batch_first, "the language model runs its RNN sequence-first, got batch_first");
  RECUR_CHECK(rnn.input_size == embedding_dim, "the RNN's input_size ({}) must equal the embedding size ({})",
              rnn.input_size, embedding_dim);
  rnn.validate();
  RECUR_CHECK(!tie_weights || rnn.output_hidden_size() == embedding_dim,
              "--tie-weights needs the last RNN layer's output size to equal the embedding size: the output size is "
              "{} (--{} {}), the embedding size {} (--embedding {})",
              rnn.output_hidden_size(), rnn.proj_size > 0 ? "proj" : "hidden", rnn.output_hidden_size(), embedding_dim,
              embedding_dim);
}

std::string ModelConfig::summary() const {
  std::string kind = nn::mode_name(rnn.mode);
  for (char& c : kind) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string text = fmt::format("{}-layer {}, hidden {}", rnn.num_layers, kind, rnn.hidden_size);
  if (rnn.proj_size > 0) text += fmt::format(", projection {}", rnn.proj_size);
  if (tie_weights) text += ", tied weights";
  return text + fmt::format(", embedding {}, vocabulary {}", embedding_dim, vocab_size);
}

void to_json(nlohmann::json& j, const ModelConfig& c) {
  j = nlohmann::json{{"vocab_size", c.vocab_size},
                     {"embedding_dim", c.embedding_dim},
                     {"dropout", c.dropout},
                     {"tie_weights", c.tie_weights},
                     {"dropout_e", c.dropout_e},
                     {"dropout_i", c.dropout_i},
                     {"dropout_o", c.dropout_o},
                     {"ar", c.ar},
                     {"tar", c.tar},
                     {"rnn", c.rnn}};
}

void from_json(const nlohmann::json& j, ModelConfig& c) {
  RECUR_CHECK(j.is_object(), "model configuration: expected a JSON object, got {}", j.type_name());
  for (const char* key : {"vocab_size", "embedding_dim", "dropout", "rnn"}) {
    RECUR_CHECK(j.contains(key), "model configuration: missing \"{}\"", key);
  }
  try {
    c.vocab_size = nn::json_integer<int64_t>(j.at("vocab_size"), "model configuration: \"vocab_size\"");
    c.embedding_dim = nn::json_integer<int64_t>(j.at("embedding_dim"), "model configuration: \"embedding_dim\"");
    c.dropout = j.at("dropout").get<double>();
    // Absent before --tie-weights and the regularizers.
    c.tie_weights = j.value("tie_weights", false);
    c.dropout_e = j.value("dropout_e", 0.0);
    c.dropout_i = j.value("dropout_i", 0.0);
    c.dropout_o = j.value("dropout_o", 0.0);
    c.ar = j.value("ar", 0.0);
    c.tar = j.value("tar", 0.0);
    c.rnn = j.at("rnn").get<nn::RNNOptions>();
  } catch (const nlohmann::json::exception& e) {
    RECUR_FAIL("model configuration: {}", e.what());
  }
  c.validate();
}

std::string config_difference(const ModelConfig& saved, const ModelConfig& requested) {
  const nlohmann::json a = saved, b = requested;
  for (const auto& [key, value] : a.items()) {
    // The regularizers act in training alone: a fine-tuned model may use others.
    if (key == "rnn" || key == "dropout_e" || key == "dropout_i" || key == "dropout_o" || key == "ar" || key == "tar")
      continue;
    if (!b.contains(key) || b[key] != value) {
      return fmt::format("{}: {} in the checkpoint, {} requested", key, value.dump(),
                         b.value(key, nlohmann::json()).dump());
    }
  }
  for (const auto& [key, value] : a["rnn"].items()) {
    if (key == "dropout_seed") continue;                                    // derived from --seed, not a shape
    if (key == "variational_dropout" || key == "weight_dropout") continue;  // regularizers, as above
    if (!b["rnn"].contains(key) || b["rnn"][key] != value) {
      return fmt::format("{}: {} in the checkpoint, {} requested", key, value.dump(),
                         b["rnn"].value(key, nlohmann::json()).dump());
    }
  }
  return "";
}

std::vector<nn::RNNWeightShape> weight_shapes(const ModelConfig& config) {
  config.validate();
  std::vector<nn::RNNWeightShape> shapes{{"embedding.weight", {config.vocab_size, config.embedding_dim}}};
  for (nn::RNNWeightShape& weight : nn::rnn_weight_shapes(config.rnn)) {
    shapes.push_back({"rnn." + weight.name, std::move(weight.shape)});
  }
  if (!config.tie_weights) shapes.push_back({"head.weight", {config.vocab_size, config.rnn.output_hidden_size()}});
  shapes.push_back({"head.bias", {config.vocab_size}});
  return shapes;
}

namespace {

// A seed for stream `index` derived from the run's seed (one Philox block, so that nearby seeds
// give unrelated streams).
uint64_t derived_seed(uint64_t seed, uint64_t index) {
  const auto block = Philox::block(seed, index, 0x6c6d5f7365656473ull);  // "lm_seeds"
  return (static_cast<uint64_t>(block[0]) << 32) | block[1];
}

}  // namespace

Head::Head(int64_t in_features, int64_t vocab_size, const Tensor& tied, Generator* generator) {
  // Drawn as nn::Linear draws its weight and bias, tied or not, so that a seed gives one model.
  nn::Linear linear(in_features, vocab_size, nn::LinearOptions{.generator = generator});
  if (tied.defined()) {
    RECUR_CHECK(tied.dim() == 2 && tied.size(0) == vocab_size && tied.size(1) == in_features,
                "the tied head needs an embedding matrix [{}, {}], got {}", vocab_size, in_features, tied.describe());
    weight = tied;
    weight.copy_(linear.weight);  // the shared matrix starts as the head's weight would
  } else {
    weight = register_parameter("weight", linear.weight);
  }
  bias = register_parameter("bias", linear.bias);
}

Tensor Head::forward(const Tensor& y) const {
  RECUR_CHECK(y.dim() >= 1 && y.size(-1) == weight.size(1), "the head takes {} features, got {}", weight.size(1),
              y.describe());
  return linear(y, weight, bias);
}

LanguageModel::LanguageModel(const ModelConfig& config, uint64_t seed)
    : config_(config), locked_dropout_(derived_seed(seed, 3)), embedding_dropout_(derived_seed(seed, 4)) {
  config_.rnn.dropout_seed = derived_seed(seed, 1);
  config_.validate();
  Generator init(seed);
  embedding = register_module("embedding", std::make_shared<nn::Embedding>(config_.vocab_size, config_.embedding_dim,
                                                                           nn::EmbeddingOptions{.generator = &init}));
  rnn = register_module("rnn", std::make_shared<nn::RNN>(config_.rnn, &init));
  dropout = register_module("dropout", std::make_shared<nn::Dropout>(config_.dropout, derived_seed(seed, 2)));
  head = register_module("head", std::make_shared<Head>(config_.rnn.output_hidden_size(), config_.vocab_size,
                                                        config_.tie_weights ? embedding->weight : Tensor(), &init));
}

std::pair<Tensor, nn::RNNState> LanguageModel::forward(const Tensor& tokens, const nn::RNNState& state,
                                                       const DropoutMasks* masks) {
  RECUR_CHECK(tokens.dim() == 2, "the language model takes tokens [T, B], got {}", tokens.describe());
  const bool training = is_training();
  const int64_t batch = tokens.size(1);
  // A given mask, or one drawn from `generator` (the masks are drawn in this order).
  const auto given = [&](const Tensor DropoutMasks::*which) {
    return masks != nullptr && (masks->*which).defined() ? masks->*which : Tensor();
  };
  // A locked mask [1, B, F] (this rank's streams of the global batch's under data parallelism).
  const auto locked = [&](const Tensor DropoutMasks::*which, const Tensor& like, double p) {
    const Tensor mask = given(which);
    return mask.defined() ? mask : locked_dropout_mask(batch, like.size(2), like, p, locked_dropout_);
  };
  Tensor lookup = embedding->weight;
  if (training && config_.dropout_e > 0.0) {
    const Tensor mask = given(&DropoutMasks::embedding);  // the same on every rank: one per batch
    lookup =
        lookup *
        (mask.defined() ? mask : dropout_mask({config_.vocab_size, 1}, lookup, config_.dropout_e, embedding_dropout_));
  }
  Tensor embedded = recur::embedding(lookup, tokens);
  if (training && config_.dropout_i > 0.0) {
    embedded = embedded * locked(&DropoutMasks::input, embedded, config_.dropout_i);
  }
  auto [output, next] = rnn->forward(embedded, state, Tensor(), masks != nullptr ? &masks->rnn : nullptr);
  Tensor dropped = output;
  if (training && config_.dropout_o > 0.0) {
    dropped = output * locked(&DropoutMasks::output, output, config_.dropout_o);
  }
  penalty_ = training ? lm::activation_penalty(dropped, output, config_.ar, config_.tar) : Tensor();
  return {head->forward(dropout->forward(dropped)), next};
}

std::vector<std::pair<std::string, Generator*>> LanguageModel::generators() {
  std::vector<std::pair<std::string, Generator*>> streams = {{"rnn_dropout", &rnn->dropout_generator()},
                                                             {"output_dropout", &dropout->generator()}};
  if (config_.dropout_i > 0.0 || config_.dropout_o > 0.0) streams.emplace_back("locked_dropout", &locked_dropout_);
  if (config_.dropout_e > 0.0) streams.emplace_back("embedding_dropout", &embedding_dropout_);
  return streams;
}

}  // namespace recur::lm
