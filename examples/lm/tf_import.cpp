#include "examples/lm/tf_import.h"

#include <fmt/format.h>

#include "core/error.h"

namespace recur::lm {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

TfLanguageModel convert_tf_language_model(const nn::TfCheckpoint& checkpoint, const nn::TfConversion& rnn,
                                          const Vocabulary& vocab) {
  const int64_t V = vocab.size(), R = rnn.options.output_hidden_size();
  const DType dtype = rnn.weights.begin()->second.dtype();
  // The embedding and the head among the tensors of no cell, by name and shape.
  std::string embedding, kernel, bias;
  for (const std::string& entry : rnn.left_out) {
    const nn::TfCheckpointEntry* e = checkpoint.find(entry);
    if (!e->dtype || *e->dtype == DType::Int64) continue;
    const std::string name = nn::tf_variable_name(entry);
    if (ends_with(name, "/embeddings") || name == "embeddings") {
      RECUR_CHECK(embedding.empty(), "{}: two embeddings, '{}' and '{}'; convert needs one", checkpoint.name(),
                  embedding, entry);
      embedding = entry;
    } else if (ends_with(name, "/kernel") && e->shape == Shape{R, V}) {
      const std::string bias_name = name.substr(0, name.size() - 6) + "bias";
      for (const std::string& other : rnn.left_out) {
        if (nn::tf_variable_name(other) == bias_name) {
          RECUR_CHECK(kernel.empty(), "{}: two Dense layers of shape [{}, {}], '{}' and '{}'; convert needs one",
                      checkpoint.name(), R, V, kernel, entry);
          kernel = entry, bias = other;
        }
      }
    }
  }
  RECUR_CHECK(!embedding.empty(),
              "{}: no embedding (a variable named .../embeddings [V, E]) beside the recurrent layers; a language "
              "model needs one",
              checkpoint.name());
  RECUR_CHECK(!kernel.empty(),
              "{}: no Dense layer .../kernel [{}, {}] with its bias [{}] (the RNN's {} outputs to the vocabulary's {} "
              "symbols) beside the recurrent layers",
              checkpoint.name(), R, V, V, R, V);
  const Tensor embeddings = checkpoint.read(embedding);
  RECUR_CHECK(embeddings.dim() == 2 && embeddings.size(0) == V,
              "{}: the embedding '{}' is {}, expected [{}, E]: one row per symbol of the vocabulary ({} {})",
              checkpoint.name(), embedding, embeddings.describe(), V, V, vocab_kind_name(vocab.kind()));
  const Tensor head_bias = checkpoint.read(bias);
  RECUR_CHECK(head_bias.shape() == Shape{V}, "{}: the Dense bias '{}' is {}, expected [{}]", checkpoint.name(), bias,
              head_bias.describe(), V);

  TfLanguageModel out;
  out.config.vocab_size = V;
  out.config.embedding_dim = embeddings.size(1);
  out.config.rnn = rnn.options;
  out.config.validate();
  out.weights["embedding.weight"] = embeddings.to(dtype);
  out.weights["head.weight"] = checkpoint.read(kernel).to(dtype).t().contiguous();
  out.weights["head.bias"] = head_bias.to(dtype);
  for (const auto& [name, weight] : rnn.weights) out.weights["rnn." + name] = weight;
  out.mapping.push_back(fmt::format("embedding.weight {} <- {}", shape_str(embeddings.shape()), embedding));
  out.mapping.push_back(fmt::format("head.weight [{}, {}] <- {} [{}, {}] transposed", V, R, kernel, R, V));
  out.mapping.push_back(fmt::format("head.bias [{}] <- {}", V, bias));
  return out;
}

}  // namespace recur::lm
