#include "examples/lm/corpus.h"

#include <array>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/philox.h"

namespace recur::lm {
namespace {

using Words = std::vector<std::string_view>;

const Words kSpeakers = {"FIRST CITIZEN", "SECOND CITIZEN", "KING HENRY", "QUEEN MARGARET", "GLOUCESTER",
                         "LADY ANNE",     "BUCKINGHAM",     "MENENIUS",   "CORIOLANUS",     "NURSE",
                         "ROMEO",         "JULIET",         "FRIAR",      "PROSPERO",       "MIRANDA"};
const Words kNouns = {"king",   "queen", "lord",  "lady",   "crown", "sword", "heart",  "night",  "day",
                      "blood",  "love",  "grief", "honour", "death", "sun",   "moon",   "field",  "house",
                      "father", "son",   "world", "tongue", "hand",  "eye",   "friend", "enemy",  "city",
                      "people", "war",   "peace", "time",   "word",  "soul",  "grace",  "throne", "storm"};
const Words kAdjectives = {"noble",  "gentle", "cruel", "sweet",  "dark",  "fair",     "proud", "old",
                           "young",  "true",   "false", "bloody", "happy", "wretched", "good",  "great",
                           "bitter", "silent", "brave", "poor",   "royal", "honest"};
const Words kVerbs = {"love",  "hate",  "fear",  "know",  "see",   "call",   "leave", "keep", "find", "bear",
                      "serve", "speak", "bring", "swear", "trust", "follow", "kill",  "save", "seek", "grant"};
const Words kPronouns = {"I", "thou", "he", "she", "we", "you", "they"};
const Words kAdverbs = {"now", "here", "yet", "never", "still", "again", "too well", "so soon", "indeed"};
const Words kOpeners = {"O", "Alas", "Nay", "Ay", "Why", "Good", "Come", "Peace", "Hark", "Well"};

class Draw {
 public:
  explicit Draw(uint64_t seed) : seed_(seed) {}
  uint32_t next() {
    if (used_ == 4) block_ = Philox::block(seed_, counter_++), used_ = 0;
    return block_[used_++];
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
  std::string_view pick(const Words& words) { return words[below(words.size())]; }
  bool chance(int percent) { return below(100) < static_cast<size_t>(percent); }

 private:
  uint64_t seed_, counter_ = 0;
  std::array<uint32_t, 4> block_{};
  int used_ = 4;
};

std::string capitalised(std::string_view word) {
  std::string out(word);
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') out[0] = static_cast<char>(out[0] - 'a' + 'A');
  return out;
}

// Each draw is its own statement: the order of the draws (and so the text) must not depend on
// the compiler's order of evaluating operands.
std::string noun_phrase(Draw& draw) {
  std::string phrase(draw.chance(50) ? "the " : (draw.chance(50) ? "my " : "thy "));
  if (draw.chance(55)) phrase.append(draw.pick(kAdjectives)).append(" ");
  phrase.append(draw.pick(kNouns));
  if (draw.chance(20)) {
    phrase.append(draw.chance(50) ? " of the " : " of my ");
    phrase.append(draw.pick(kNouns));
  }
  return phrase;
}

std::string sentence(Draw& draw) {
  std::string s;
  if (draw.chance(25)) s.append(draw.pick(kOpeners)).append(", ");
  switch (draw.below(4)) {
    case 0:
      s.append(draw.pick(kPronouns));
      s.append(draw.chance(40) ? " shall " : " do ");
      s.append(draw.pick(kVerbs)).append(" ");
      s.append(noun_phrase(draw));
      break;
    case 1:
      s.append(noun_phrase(draw)).append(" is ");
      s.append(draw.pick(kAdjectives));
      break;
    case 2:
      s.append(draw.pick(kVerbs)).append(" ");
      s.append(noun_phrase(draw)).append(", and ");
      s.append(draw.pick(kVerbs)).append(" ");
      s.append(noun_phrase(draw));
      break;
    default:
      s.append("what ").append(draw.pick(kNouns)).append(" is this, that ");
      s.append(draw.pick(kPronouns)).append(" ");
      s.append(draw.pick(kVerbs)).append(" ");
      s.append(noun_phrase(draw));
  }
  if (draw.chance(30)) s.append(" ").append(draw.pick(kAdverbs));
  s = capitalised(s);
  const size_t end = draw.below(10);
  s += end < 6 ? "." : end < 8 ? "!" : end < 9 ? "?" : ";";
  return s;
}

}  // namespace

std::string generate_corpus(int64_t chars, uint64_t seed) {
  RECUR_CHECK(chars >= 1, "the corpus size must be >= 1 character, got {}", chars);
  Draw draw(seed);
  std::string text;
  while (static_cast<int64_t>(text.size()) < chars) {
    text.append(draw.pick(kSpeakers)).append(":\n");
    const size_t lines = 1 + draw.below(4);
    for (size_t line = 0; line < lines; ++line) {
      text += sentence(draw);
      if (draw.chance(40)) text.append(" ").append(sentence(draw));
      text += "\n";
    }
    text += "\n";
  }
  return text;
}

}  // namespace recur::lm
