// A small synthetic corpus for when no text is at hand (scripts/demo.sh on a machine without
// Tiny Shakespeare): a play of speeches by named characters, sentences drawn from a little
// grammar with a few hundred words. It has the structure a character model learns first (words,
// capitals, punctuation, speaker lines), and it is the same for the same seed.
#pragma once

#include <cstdint>
#include <string>

namespace recur::lm {

// About `chars` characters (whole speeches, so a little more), ASCII only.
std::string generate_corpus(int64_t chars, uint64_t seed = 1);

}  // namespace recur::lm
