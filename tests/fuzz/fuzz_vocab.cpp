// The text and vocabulary reader (examples/lm/vocab.h, word_tokenizer.h). The first byte picks
// what the rest is:
//   bit 0: bytes (0) or chars (1) symbols; bit 2 set: words (bit 0 ignored);
//   bit 1: a training text (0) or a vocabulary's JSON (1).
// A text builds a vocabulary (or a recur::Error for invalid UTF-8); encoding it and decoding the
// ids gives the text back (words: text whose tokens are the same ids); a vocabulary built from
// half the text encodes the whole, or names the first unknown symbol (words: never an error).
// The UTF-8 decoder agrees with the encoder at every position.
#include <nlohmann/json.hpp>

#include "examples/lm/vocab.h"
#include "tests/fuzz/fuzz_target.h"

using recur::lm::VocabKind;
using recur::lm::VocabSpec;
using recur::lm::Vocabulary;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const VocabKind kind = (data[0] & 4) ? VocabKind::Words : (data[0] & 1) ? VocabKind::Chars : VocabKind::Bytes;
  const bool json_input = (data[0] & 2) != 0;
  const std::string text = recur::fuzz::bytes_of(data + 1, size - 1);

  for (size_t pos = 0; pos < text.size(); ++pos) {
    const recur::lm::Utf8Symbol symbol = recur::lm::decode_utf8(text, pos);
    if (symbol.length > 0) {
      RECUR_FUZZ_ASSERT(recur::lm::encode_utf8(symbol.code_point) == text.substr(pos, symbol.length));
    }
  }

  if (json_input) {
    nlohmann::json json;
    try {
      json = nlohmann::json::parse(text);  // the checkpoint reader turns a parse error into a recur::Error
    } catch (const nlohmann::json::exception&) {
      return 0;
    }
    return recur::fuzz::run([&] {
      const Vocabulary vocab = Vocabulary::from_json(json);
      RECUR_FUZZ_ASSERT(Vocabulary::from_json(vocab.to_json()) == vocab);
      for (int64_t id = 0; id < vocab.size(); ++id) {
        const std::string symbol = vocab.decode(id);
        RECUR_FUZZ_ASSERT(vocab.encode(symbol) == std::vector<int32_t>{static_cast<int32_t>(id)});
      }
    });
  }
  return recur::fuzz::run([&] {
    const Vocabulary vocab = Vocabulary::build(text, kind, "fuzz text");
    const std::vector<int32_t> ids = vocab.encode(text, "fuzz text");
    if (kind == VocabKind::Words) {
      RECUR_FUZZ_ASSERT(vocab.encode(vocab.decode(ids)) == ids);  // joined words read back as themselves
    } else {
      RECUR_FUZZ_ASSERT(vocab.decode(ids) == text);
    }
    RECUR_FUZZ_ASSERT(Vocabulary::from_json(vocab.to_json()) == vocab);
    const std::string_view half_text = std::string_view(text).substr(0, (text.size() + 1) / 2);
    if (kind == VocabKind::Words) {
      // A rarer cut keeps fewer words; every word of the text still encodes (<unk> at worst).
      const Vocabulary half = Vocabulary::build(half_text, VocabSpec{.kind = kind, .min_count = 2, .max_vocab = 5});
      RECUR_FUZZ_ASSERT(half.size() <= 5 && half.encode(text).size() == ids.size());
      return;
    }
    try {
      const Vocabulary half = Vocabulary::build(half_text, kind);
      RECUR_FUZZ_ASSERT(half.decode(half.encode(text)) == text);
    } catch (const recur::Error&) {
    }
  });
}
