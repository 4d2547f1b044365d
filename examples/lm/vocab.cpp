#include "examples/lm/vocab.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "examples/lm/word_tokenizer.h"

namespace recur::lm {

namespace {

// Each kind's name and unit, in the order of VocabKind.
struct KindNames {
  const char* name;
  const char* unit;
};
constexpr std::array<KindNames, 3> kKindNames{{{"bytes", "byte"}, {"chars", "char"}, {"words", "word"}}};

}  // namespace

std::string vocab_kind_name(VocabKind kind) { return kKindNames.at(static_cast<size_t>(kind)).name; }

std::string symbol_unit(VocabKind kind) { return kKindNames.at(static_cast<size_t>(kind)).unit; }

VocabKind parse_vocab_kind(const std::string& name) {
  for (size_t kind = 0; kind < kKindNames.size(); ++kind) {
    if (name == kKindNames[kind].name) return static_cast<VocabKind>(kind);
  }
  RECUR_FAIL("unknown vocabulary kind '{}' (expected bytes, chars or words)", name);
}

std::string describe_loss(double nats, VocabKind kind) {
  const std::string unit = symbol_unit(kind);
  if (kind == VocabKind::Words) return fmt::format("{:.4f} nats/{} (perplexity {:.1f})", nats, unit, std::exp(nats));
  return fmt::format("{:.4f} nats/{} ({:.4f} bits/{})", nats, unit, nats / std::log(2.0), unit);
}

Utf8Symbol decode_utf8(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t lead = byte(pos);
  if (lead < 0x80) return {lead, 1};
  int length = 0;
  uint32_t code = 0, min_code = 0;
  if ((lead & 0xE0) == 0xC0)
    length = 2, code = lead & 0x1F, min_code = 0x80;
  else if ((lead & 0xF0) == 0xE0)
    length = 3, code = lead & 0x0F, min_code = 0x800;
  else if ((lead & 0xF8) == 0xF0)
    length = 4, code = lead & 0x07, min_code = 0x10000;
  else
    return {};  // a continuation byte or 0xF8..0xFF
  if (pos + static_cast<size_t>(length) > text.size()) return {};
  for (int i = 1; i < length; ++i) {
    const uint8_t next = byte(pos + static_cast<size_t>(i));
    if ((next & 0xC0) != 0x80) return {};
    code = (code << 6) | (next & 0x3F);
  }
  if (code < min_code || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return {};
  return {code, length};
}

std::string encode_utf8(uint32_t c) {
  std::string out;
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
  return out;
}

std::string describe_symbol(uint32_t symbol, VocabKind kind) {
  if (kind == VocabKind::Bytes && symbol >= 0x80) return fmt::format("byte 0x{:02X}", symbol);
  switch (symbol) {
    case '\n': return "'\\n'";
    case '\t': return "'\\t'";
    case '\r': return "'\\r'";
    default: break;
  }
  if (symbol < 0x20 || symbol == 0x7F) return fmt::format("control character U+{:04X}", symbol);
  if (symbol < 0x80) return fmt::format("'{}'", static_cast<char>(symbol));
  return fmt::format("'{}' (U+{:04X})", encode_utf8(symbol), symbol);
}

namespace {

// Calls fn(symbol, byte offset) for every symbol of the text; recur::Error at invalid UTF-8.
template <typename Fn> void for_each_symbol(std::string_view text, VocabKind kind, std::string_view what, Fn&& fn) {
  if (kind == VocabKind::Bytes) {
    for (size_t pos = 0; pos < text.size(); ++pos) fn(static_cast<uint8_t>(text[pos]), pos);
    return;
  }
  size_t pos = 0;
  while (pos < text.size()) {
    const Utf8Symbol symbol = decode_utf8(text, pos);
    RECUR_CHECK(symbol.length > 0, "{} is not valid UTF-8: byte 0x{:02X} at offset {} (use --vocab bytes for any file)",
                what, static_cast<uint8_t>(text[pos]), pos);
    fn(symbol.code_point, pos);
    pos += static_cast<size_t>(symbol.length);
  }
}

}  // namespace

Vocabulary::Vocabulary(VocabKind kind, std::vector<uint32_t> symbols)
    : kind_(kind), symbols_(std::move(symbols)), low_ids_(256, -1) {
  for (size_t id = 0; id < symbols_.size(); ++id) {
    if (symbols_[id] < 256)
      low_ids_[symbols_[id]] = static_cast<int32_t>(id);
    else
      other_[symbols_[id]] = static_cast<int32_t>(id);
  }
}

Vocabulary::Vocabulary(std::vector<std::string> words) : kind_(VocabKind::Words), words_(std::move(words)) {
  for (size_t id = 0; id < words_.size(); ++id) word_ids_.emplace(words_[id], static_cast<int32_t>(id));
}

namespace {

// <unk>, <eol>, then the words of `text` seen at least min_count times, the most frequent first
// (ties in byte order), at most max_vocab in all.
std::vector<std::string> frequent_words(std::string_view text, const VocabSpec& spec, std::string_view what) {
  RECUR_CHECK(spec.min_count >= 1, "--min-count must be >= 1, got {}", spec.min_count);
  RECUR_CHECK(spec.max_vocab == 0 || spec.max_vocab >= 2,
              "--max-vocab must be 0 (no cap) or >= 2 (<unk> and <eol> included), got {}", spec.max_vocab);
  std::unordered_map<std::string_view, int64_t> counts;
  for_each_word(text, what, [&](std::string_view token, size_t) {
    if (token != kUnknownWord && token != kEndOfLine) counts[token] += 1;
  });
  std::vector<std::pair<int64_t, std::string_view>> by_count;
  for (const auto& [word, count] : counts) {
    if (count >= spec.min_count) by_count.emplace_back(-count, word);
  }
  std::sort(by_count.begin(), by_count.end());
  std::vector<std::string> words{std::string(kUnknownWord), std::string(kEndOfLine)};
  for (const auto& [count, word] : by_count) {
    if (spec.max_vocab > 0 && static_cast<int64_t>(words.size()) >= spec.max_vocab) break;
    words.emplace_back(word);
  }
  return words;
}

}  // namespace

Vocabulary Vocabulary::build(std::string_view text, const VocabSpec& spec, std::string_view what) {
  const VocabKind kind = spec.kind;
  RECUR_CHECK(!text.empty(), "{} is empty: a vocabulary needs at least one symbol", what);
  if (kind == VocabKind::Words) return Vocabulary(frequent_words(text, spec, what));
  std::array<bool, 256> seen_low{};
  std::vector<uint32_t> others;
  for_each_symbol(text, kind, what, [&](uint32_t symbol, size_t) {
    if (symbol < 256)
      seen_low[symbol] = true;
    else
      others.push_back(symbol);
  });
  std::vector<uint32_t> symbols;
  for (uint32_t s = 0; s < 256; ++s) {
    if (seen_low[s] || kind == VocabKind::Bytes) symbols.push_back(s);  // bytes: every byte, seen or not
  }
  std::sort(others.begin(), others.end());
  others.erase(std::unique(others.begin(), others.end()), others.end());
  symbols.insert(symbols.end(), others.begin(), others.end());
  return Vocabulary(kind, std::move(symbols));
}

Vocabulary Vocabulary::from_json(const nlohmann::json& json) {
  RECUR_CHECK(json.is_object() && json.contains("kind") && json["kind"].is_string(),
              "vocabulary: expected an object with \"kind\", got {}", json.dump().substr(0, 80));
  const VocabKind kind = parse_vocab_kind(json["kind"].get<std::string>());
  if (kind == VocabKind::Words) return words_from_json(json);
  RECUR_CHECK(json.contains("symbols") && json["symbols"].is_array(),
              "vocabulary: expected an object with \"kind\" and \"symbols\", got {}", json.dump().substr(0, 80));
  const uint32_t limit = kind == VocabKind::Bytes ? 0xFF : 0x10FFFF;
  std::vector<uint32_t> symbols;
  for (const nlohmann::json& value : json["symbols"]) {
    RECUR_CHECK(value.is_number_unsigned() && value.get<uint64_t>() <= limit,
                "vocabulary: symbols must be integers in [0, {}], got {}", limit, value.dump());
    const auto symbol = static_cast<uint32_t>(value.get<uint64_t>());
    RECUR_CHECK(symbols.empty() || symbol > symbols.back(),
                "vocabulary: symbols must be sorted and distinct, got {} after {}", symbol, symbols.back());
    RECUR_CHECK(kind == VocabKind::Bytes || symbol < 0xD800 || symbol > 0xDFFF,
                "vocabulary: symbol {} is a UTF-16 surrogate, not a character", symbol);
    symbols.push_back(symbol);
  }
  RECUR_CHECK(!symbols.empty(), "vocabulary: no symbols");
  return Vocabulary(kind, std::move(symbols));
}

Vocabulary Vocabulary::words_from_json(const nlohmann::json& json) {
  RECUR_CHECK(json.contains("words") && json["words"].is_array(),
              "vocabulary: expected an object with \"kind\": \"words\" and \"words\", got {}",
              json.dump().substr(0, 80));
  const nlohmann::json& list = json["words"];
  RECUR_CHECK(list.size() >= 2 && list[0] == kUnknownWord && list[1] == kEndOfLine,
              "vocabulary: the words must start with \"{}\" and \"{}\", got {}", kUnknownWord, kEndOfLine,
              list.dump().substr(0, 80));
  std::vector<std::string> words;
  words.reserve(list.size());
  for (const nlohmann::json& value : list) {
    RECUR_CHECK(value.is_string(), "vocabulary: words must be strings, got {}", value.dump().substr(0, 80));
    const std::string& word = value.get_ref<const std::string&>();
    RECUR_CHECK(words.size() < 2 || (word != kUnknownWord && word != kEndOfLine),
                "vocabulary: \"{}\" appears twice in the words", word);
    RECUR_CHECK(is_one_word(word), "vocabulary: {} is not one word of the tokenizer (word_tokenizer.h)",
                value.dump().substr(0, 80));
    words.push_back(word);
  }
  std::vector<std::string_view> sorted(words.begin(), words.end());
  std::sort(sorted.begin(), sorted.end());
  const auto repeated = std::adjacent_find(sorted.begin(), sorted.end());
  RECUR_CHECK(repeated == sorted.end(), "vocabulary: the word \"{}\" appears twice", *repeated);
  return Vocabulary(std::move(words));
}

nlohmann::json Vocabulary::to_json() const {
  if (kind_ == VocabKind::Words) return nlohmann::json{{"kind", vocab_kind_name(kind_)}, {"words", words_}};
  return nlohmann::json{{"kind", vocab_kind_name(kind_)}, {"symbols", symbols_}};
}

int64_t Vocabulary::id_of(uint32_t symbol) const {
  if (symbol < 256) return low_ids_.empty() ? -1 : low_ids_[symbol];
  const auto it = other_.find(symbol);
  return it == other_.end() ? -1 : it->second;
}

int64_t Vocabulary::word_id(std::string_view word) const {
  const auto it = word_ids_.find(std::string(word));
  return it == word_ids_.end() ? -1 : it->second;
}

int64_t Vocabulary::newline_id() const { return kind_ == VocabKind::Words ? word_id(kEndOfLine) : id_of('\n'); }

std::vector<int32_t> Vocabulary::encode(std::string_view text, std::string_view what) const {
  return encode_known(text, what, nullptr);
}

std::vector<int32_t> Vocabulary::encode_known(std::string_view text, std::string_view what,
                                              std::map<uint32_t, int64_t>* skipped) const {
  std::vector<int32_t> ids;
  if (kind_ == VocabKind::Words) {
    const int64_t unknown = word_id(kUnknownWord);
    for_each_word(text, what, [&](std::string_view token, size_t) {
      const int64_t id = word_id(token);
      ids.push_back(static_cast<int32_t>(id >= 0 ? id : unknown));
    });
    return ids;
  }
  ids.reserve(text.size());
  for_each_symbol(text, kind_, what, [&](uint32_t symbol, size_t pos) {
    const int64_t id = id_of(symbol);
    if (id < 0 && skipped != nullptr) {
      (*skipped)[symbol] += 1;
      return;
    }
    RECUR_CHECK(id >= 0, "{}: {} at byte {} is not in the model's vocabulary of {} {}", what,
                describe_symbol(symbol, kind_), pos, symbols_.size(), vocab_kind_name(kind_));
    ids.push_back(static_cast<int32_t>(id));
  });
  return ids;
}

std::string Vocabulary::describe_skipped(const std::map<uint32_t, int64_t>& skipped) const {
  std::vector<std::pair<int64_t, uint32_t>> by_count;
  int64_t total = 0;
  for (const auto& [symbol, count] : skipped) by_count.emplace_back(-count, symbol), total += count;
  std::sort(by_count.begin(), by_count.end());
  std::string text = fmt::format("{} symbol{} outside the vocabulary of {} {}", total, total == 1 ? "" : "s",
                                 symbols_.size(), vocab_kind_name(kind_));
  for (size_t i = 0; i < by_count.size() && i < 8; ++i) {
    text +=
        fmt::format("{} {} x{}", i == 0 ? ":" : ",", describe_symbol(by_count[i].second, kind_), -by_count[i].first);
  }
  if (by_count.size() > 8) text += fmt::format(" and {} other symbols", by_count.size() - 8);
  return text;
}

std::string Vocabulary::decode(int64_t id) const {
  RECUR_CHECK(id >= 0 && id < size(), "token id {} is outside the vocabulary [0, {})", id, size());
  if (kind_ == VocabKind::Words) return std::string(word_text(words_[static_cast<size_t>(id)]));
  const uint32_t symbol = symbols_[static_cast<size_t>(id)];
  if (kind_ == VocabKind::Bytes) return std::string(1, static_cast<char>(symbol));
  return encode_utf8(symbol);
}

std::string Vocabulary::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  int64_t previous = -1;
  for (int32_t id : ids) out += decode_after(previous, id), previous = id;
  return out;
}

std::string Vocabulary::decode_after(int64_t previous, int64_t id) const {
  std::string piece = decode(id);
  if (kind_ != VocabKind::Words) return piece;
  RECUR_CHECK(previous >= -1 && previous < size(), "token id {} is outside the vocabulary [0, {})", previous, size());
  const std::string_view before = previous < 0 ? std::string_view() : words_[static_cast<size_t>(previous)];
  return std::string(join_separator(before, words_[static_cast<size_t>(id)])) + piece;
}

}  // namespace recur::lm
