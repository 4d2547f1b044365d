// The tokenizer of `--vocab words`: a text becomes words, punctuation marks and ends of line.
//
// The rules, applied left to right on UTF-8 text (case is kept: "The" and "the" are two words):
//   - a newline ('\n') is the token <eol>; spaces, tabs, '\r', '\v' and '\f' separate tokens and
//     are not tokens themselves;
//   - a word is a run of word characters: ASCII letters and digits, and every code point above
//     U+007F (recur has no Unicode tables: non-ASCII letters, and non-ASCII punctuation too, are
//     word characters). An apostrophe between two word characters belongs to the word ("don't",
//     "o'er"); elsewhere it is a mark of its own ("'tis" is ' and tis);
//   - every other ASCII character (punctuation, symbols, control characters) is a token of one
//     character: "Hello, world!" is Hello , world !;
//   - the texts "<unk>" and "<eol>" are read as the unknown-word and end-of-line tokens (as in the
//     Penn Treebank and WikiText files, which spell out their <unk>).
// Invalid UTF-8 is a recur::Error naming the byte offset.
//
// Tokens are joined back into text (join_separator) with one space between tokens, none after
// <eol> (a newline) and after an opening bracket ( [ {, and none before . , ; : ! ? ) ] }.
// Tokenizing the joined text gives the same tokens again.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace recur::lm {

inline constexpr std::string_view kUnknownWord = "<unk>";
inline constexpr std::string_view kEndOfLine = "<eol>";

// Calls token(text of the token, its byte offset) for every token of `text` in order; <eol> is
// passed as kEndOfLine. recur::Error for invalid UTF-8; `what` names the text.
void for_each_word(std::string_view text, std::string_view what,
                   const std::function<void(std::string_view token, size_t offset)>& token);

// Whether `token` is exactly one token of the rules above (kUnknownWord and kEndOfLine are).
bool is_one_word(std::string_view token);

// What comes between `previous` and `token` when they are joined into text ("" or " "); previous
// is empty at the start of a text.
std::string_view join_separator(std::string_view previous, std::string_view token);

// The text of one token: "\n" for <eol>, the token itself otherwise.
std::string_view word_text(std::string_view token);

}  // namespace recur::lm
