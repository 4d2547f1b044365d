// Generating text from a language model, one symbol (or word) at a time.
//
// The prompt is run through the model (an empty prompt starts from a newline, <eol> for words,
// or from the first symbol of the vocabulary when it has no newline); then each step turns the last logits into
// probabilities p_i ∝ exp(logit_i / temperature) over the top_k most likely symbols (all when
// top_k is 0; the single most likely when temperature is 0), draws one symbol with the uniform
// number of Philox block (seed, step), and feeds it back. The same checkpoint, options and seed
// give the same text.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/device.h"
#include "examples/lm/model.h"
#include "examples/lm/vocab.h"

namespace recur::lm {

struct SampleOptions {
  std::string prompt;
  int64_t length = 300;      // symbols to generate
  double temperature = 1.0;  // >= 0
  int64_t top_k = 0;         // 0: no limit
  uint64_t seed = 1;
};

// Calls emit() with the text of every generated symbol as soon as it is drawn (words with the
// space before them: Vocabulary::decode_after), and returns all of it. recur::Error for a prompt
// with symbols outside the vocabulary (words outside it read as <unk>) or bad options.
std::string sample(LanguageModel& model, const Vocabulary& vocab, const SampleOptions& options, Device device,
                   const std::function<void(const std::string&)>& emit = {});

// The index drawn from logits (exposed for tests): the temperature and top-k rules above, with
// u in (0, 1] the uniform number.
int64_t draw_symbol(const std::vector<float>& logits, double temperature, int64_t top_k, double u);

}  // namespace recur::lm
