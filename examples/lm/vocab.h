// The vocabulary of a language model: the distinct symbols of the training text (or every
// byte), each one a token id.
//
// Three kinds of symbol:
//   bytes  all 256 byte values, whatever the text holds, so that any file and any prompt can be
//          encoded; a multi-byte UTF-8 character is several tokens; sorted;
//   chars  every Unicode code point of the text, which must then be valid UTF-8 (the checks of
//          RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF); sorted;
//   words  the words and punctuation marks of examples/lm/word_tokenizer.h: id 0 is <unk>, id 1
//          <eol> (a newline), then the words seen at least min_count times, the most frequent
//          first (equal counts in byte order of their UTF-8), at most max_vocab tokens in all.
//          A word outside the vocabulary reads as <unk>: encoding words never fails for an
//          unknown word.
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

enum class VocabKind : uint8_t { Bytes, Chars, Words };

std::string vocab_kind_name(VocabKind kind);  // "bytes", "chars", "words"
// "byte", "char", "word": losses are in nats per symbol_unit
std::string symbol_unit(VocabKind kind);
VocabKind parse_vocab_kind(const std::string& name);
// A loss as the programs print it: "1.4570 nats/char (2.1020 bits/char)", or for words
// "5.1234 nats/word (perplexity 168.0)".
std::string describe_loss(double nats, VocabKind kind);

// What a vocabulary is built from: the kind, and for words the rarest word kept (seen at least
// min_count times) and the most tokens kept (max_vocab, <unk> and <eol> included; 0 = no cap).
struct VocabSpec {
  VocabKind kind = VocabKind::Chars;
  int64_t min_count = 1;
  int64_t max_vocab = 0;
};

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
  // The distinct symbols of `text` (chars), all 256 bytes (bytes), or its words (words, with
  // spec's min_count and max_vocab). recur::Error when the text is empty, or (chars, words) when
  // it is not valid UTF-8, naming the byte offset; `what` names the text in messages.
  static Vocabulary build(std::string_view text, const VocabSpec& spec, std::string_view what = "text");
  static Vocabulary build(std::string_view text, VocabKind kind, std::string_view what = "text") {
    return build(text, VocabSpec{.kind = kind}, what);
  }
  // {"kind": "chars", "symbols": [10, 32, 33, ...]} (chars, bytes) or {"kind": "words", "words":
  // ["<unk>", "<eol>", "the", ...]}: checked (known kind, sorted distinct symbols in range;
  // distinct words, each one token, after <unk> and <eol>), recur::Error otherwise.
  static Vocabulary from_json(const nlohmann::json& json);
  nlohmann::json to_json() const;

  VocabKind kind() const { return kind_; }
  int64_t size() const { return static_cast<int64_t>(kind_ == VocabKind::Words ? words_.size() : symbols_.size()); }
  // Chars and bytes: the code point or byte of each id.
  uint32_t symbol(int64_t id) const { return symbols_.at(static_cast<size_t>(id)); }
  const std::vector<uint32_t>& symbols() const { return symbols_; }
  // Words: the token of each id ("<unk>", "<eol>", "the", ...).
  const std::vector<std::string>& words() const { return words_; }
  // The id of a symbol (chars, bytes), or -1 when it is not in the vocabulary.
  int64_t id_of(uint32_t symbol) const;
  // The id of a word token (words), or -1 when it is not in the vocabulary.
  int64_t word_id(std::string_view word) const;
  // The id of the end of a line: '\n' (-1 when the text had none), or <eol>.
  int64_t newline_id() const;

  // Token ids of `text`. recur::Error naming the first symbol that is not in the vocabulary (or
  // the first invalid UTF-8 byte) with its byte offset; `what` names the text ("data file x").
  // Words outside a words vocabulary are <unk> (id 0), never an error.
  std::vector<int32_t> encode(std::string_view text, std::string_view what = "text") const;
  // Like encode(), but leaves out the symbols the vocabulary lacks, counting each in *skipped
  // (invalid UTF-8 is still an error). Words are never skipped: they read as <unk>.
  std::vector<int32_t> encode_known(std::string_view text, std::string_view what,
                                    std::map<uint32_t, int64_t>* skipped) const;
  // "12 symbols outside the vocabulary of 65 chars: '#' x5, '|' x7" (the 8 most frequent).
  std::string describe_skipped(const std::map<uint32_t, int64_t>& skipped) const;
  // The bytes of one token (a UTF-8 character for chars, one byte for bytes, the word for words,
  // "\n" for <eol>).
  std::string decode(int64_t id) const;
  // The text of tokens; words are joined with the spacing of word_tokenizer.h.
  std::string decode(const std::vector<int32_t>& ids) const;
  // The text that token `id` adds after token `previous` (-1: none): decode(id), with words
  // preceded by their separator. Concatenated, these pieces are decode() of the whole.
  std::string decode_after(int64_t previous, int64_t id) const;

  friend bool operator==(const Vocabulary& a, const Vocabulary& b) {
    return a.kind_ == b.kind_ && a.symbols_ == b.symbols_ && a.words_ == b.words_;
  }

 private:
  Vocabulary(VocabKind kind, std::vector<uint32_t> symbols);
  explicit Vocabulary(std::vector<std::string> words);
  static Vocabulary words_from_json(const nlohmann::json& json);

  VocabKind kind_ = VocabKind::Bytes;
  std::vector<uint32_t> symbols_;                // chars, bytes: sorted, distinct
  std::vector<int32_t> low_ids_;                 // id of each symbol < 256 (-1: absent), the fast path
  std::unordered_map<uint32_t, int32_t> other_;  // ids of the other symbols
  std::vector<std::string> words_;               // words: <unk>, <eol>, then by count
  std::unordered_map<std::string, int32_t> word_ids_;
};

}  // namespace recur::lm
