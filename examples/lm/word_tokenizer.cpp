#include "examples/lm/word_tokenizer.h"

#include "core/error.h"
#include "examples/lm/vocab.h"

namespace recur::lm {
namespace {

bool is_space(uint32_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

bool is_word_character(uint32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

// The symbol at text[pos], or recur::Error for invalid UTF-8.
Utf8Symbol symbol_at(std::string_view text, size_t pos, std::string_view what) {
  const Utf8Symbol symbol = decode_utf8(text, pos);
  RECUR_CHECK(symbol.length > 0, "{} is not valid UTF-8: byte 0x{:02X} at offset {} (use --vocab bytes for any file)",
              what, static_cast<uint8_t>(text[pos]), pos);
  return symbol;
}

// Whether a word character starts at text[pos] (false at the end and at invalid UTF-8).
bool word_character_at(std::string_view text, size_t pos) {
  if (pos >= text.size()) return false;
  const Utf8Symbol symbol = decode_utf8(text, pos);
  return symbol.length > 0 && is_word_character(symbol.code_point);
}

}  // namespace

void for_each_word(std::string_view text, std::string_view what,
                   const std::function<void(std::string_view token, size_t offset)>& token) {
  size_t pos = 0;
  while (pos < text.size()) {
    const Utf8Symbol symbol = symbol_at(text, pos, what);
    const uint32_t c = symbol.code_point;
    if (c == '\n') {
      token(kEndOfLine, pos);
      pos += 1;
    } else if (is_space(c)) {
      pos += 1;
    } else if (is_word_character(c)) {
      const size_t begin = pos;
      pos += static_cast<size_t>(symbol.length);
      while (pos < text.size()) {
        if (text[pos] == '\'' && word_character_at(text, pos + 1)) {
          pos += 1;  // an apostrophe inside a word; the character after it is read next
          continue;
        }
        const Utf8Symbol next = symbol_at(text, pos, what);
        if (!is_word_character(next.code_point)) break;
        pos += static_cast<size_t>(next.length);
      }
      token(text.substr(begin, pos - begin), begin);
    } else if (text.substr(pos, kUnknownWord.size()) == kUnknownWord) {
      token(kUnknownWord, pos);
      pos += kUnknownWord.size();
    } else if (text.substr(pos, kEndOfLine.size()) == kEndOfLine) {
      token(kEndOfLine, pos);
      pos += kEndOfLine.size();
    } else {
      token(text.substr(pos, 1), pos);  // one ASCII mark
      pos += 1;
    }
  }
}

bool is_one_word(std::string_view token) {
  int count = 0;
  bool whole = false;
  try {
    for_each_word(token, "a word", [&](std::string_view piece, size_t offset) {
      count += 1;
      whole = offset == 0 && piece == token;
    });
  } catch (const Error&) {
    return false;
  }
  return count == 1 && whole;
}

std::string_view join_separator(std::string_view previous, std::string_view token) {
  if (previous.empty() || previous == kEndOfLine || token == kEndOfLine) return "";
  if (previous == "(" || previous == "[" || previous == "{") return "";
  if (token.size() == 1 && std::string_view(".,;:!?)]}").find(token[0]) != std::string_view::npos) return "";
  return " ";
}

std::string_view word_text(std::string_view token) { return token == kEndOfLine ? std::string_view("\n") : token; }

}  // namespace recur::lm
