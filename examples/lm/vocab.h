// The vocabulary of a character-level language model: the distinct symbols of the training text
// (or every byte), sorted, each one a token id.
//
// Two kinds of symbol:
//   bytes  all 256 byte values, whatever the text holds, so that any file and any prompt can be
//          encoded; a multi-byte UTF-8 character is several tokens;
//   chars  every Unicode code point of the text, which must then be valid UTF-8 (the checks of
//          RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
// The vocabulary is built from the data and saved with the model (to_json), so that sampling and
// evaluation encode and decode text exactly as training did.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace recur::lm {

enum class VocabKind : uint8_t { Bytes, Chars };

std::string vocab_kind_name(VocabKind kind);  // "bytes", "chars"
std::string symbol_unit(VocabKind kind);      // "byte", "char": losses are in nats per symbol_unit
VocabKind parse_vocab_kind(const std::string& name);

// One symbol decoded from UTF-8: its code point and its length in bytes.
struct Utf8Symbol {
  uint32_t code_point = 0;
  int length = 0;  // 0: invalid at this position
};
// Decodes the symbol starting at text[pos] (strict RFC 3629 rules).
Utf8Symbol decode_utf8(std::string_view text, size_t pos);
// The UTF-8 bytes of a code point (<= U+10FFFF, not a surrogate).
std::string encode_utf8(uint32_t code_point);
// "'a'", "'\n'", "'é' (U+00E9)", "byte 0xFF": a symbol as messages show it.
std::string describe_symbol(uint32_t symbol, VocabKind kind);

class Vocabulary {
 public:
  Vocabulary() = default;
  // The distinct symbols of `text` (chars), or all 256 bytes (bytes). recur::Error when the text
  // is empty, or (chars) when it is not valid UTF-8, naming the byte offset; `what` names the
  // text in messages.
  static Vocabulary build(std::string_view text, VocabKind kind, std::string_view what = "text");
  // {"kind": "chars", "symbols": [10, 32, 33, ...]}: checked (known kind, sorted distinct
  // symbols in range), recur::Error otherwise.
  static Vocabulary from_json(const nlohmann::json& json);
  nlohmann::json to_json() const;

  VocabKind kind() const { return kind_; }
  int64_t size() const { return static_cast<int64_t>(symbols_.size()); }
  uint32_t symbol(int64_t id) const { return symbols_.at(static_cast<size_t>(id)); }
  const std::vector<uint32_t>& symbols() const { return symbols_; }
  // The id of a symbol, or -1 when it is not in the vocabulary.
  int64_t id_of(uint32_t symbol) const;

  // Token ids of `text`. recur::Error naming the first symbol that is not in the vocabulary (or
  // the first invalid UTF-8 byte) with its byte offset; `what` names the text ("data file x").
  std::vector<int32_t> encode(std::string_view text, std::string_view what = "text") const;
  // Like encode(), but leaves out the symbols the vocabulary lacks, counting each in *skipped
  // (invalid UTF-8 is still an error).
  std::vector<int32_t> encode_known(std::string_view text, std::string_view what,
                                    std::map<uint32_t, int64_t>* skipped) const;
  // "12 symbols outside the vocabulary of 65 chars: '#' x5, '|' x7" (the 8 most frequent).
  std::string describe_skipped(const std::map<uint32_t, int64_t>& skipped) const;
  // The bytes of one token (a UTF-8 character for chars, one byte for bytes).
  std::string decode(int64_t id) const;
  std::string decode(const std::vector<int32_t>& ids) const;

  friend bool operator==(const Vocabulary& a, const Vocabulary& b) {
    return a.kind_ == b.kind_ && a.symbols_ == b.symbols_;
  }

 private:
  Vocabulary(VocabKind kind, std::vector<uint32_t> symbols);

  VocabKind kind_ = VocabKind::Bytes;
  std::vector<uint32_t> symbols_;                // sorted, distinct
  std::vector<int32_t> low_ids_;                 // id of each symbol < 256 (-1: absent), the fast path
  std::unordered_map<uint32_t, int32_t> other_;  // ids of the other symbols
};

}  // namespace recur::lm
