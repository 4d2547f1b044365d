// recur corpus --out FILE [--chars N] [--seed S]
//
// Writes a synthetic play (examples/lm/corpus.h) to train on when no text is at hand.
#include <fmt/format.h>

#include <memory>

#include "core/atomic_file.h"
#include "examples/command.h"
#include "examples/lm/corpus.h"

namespace recur::cli {

Command add_corpus_command(CLI::App& parent) {
  struct State {
    std::string out;
    int64_t chars = 1000000;
    uint64_t seed = 1;
  };
  auto state = std::make_shared<State>();
  CLI::App* app = parent.add_subcommand("corpus", "Write a synthetic text corpus (for demos without data)");
  app->add_option("--out", state->out, "the file to write")->required();
  app->add_option("--chars", state->chars, "about this many characters")->capture_default_str();
  app->add_option("--seed", state->seed, "the random stream")->capture_default_str();
  return {app, [state] {
            const std::string text = lm::generate_corpus(state->chars, state->seed);
            write_file_atomically(state->out, text);
            fmt::print("{}: {} characters written\n", state->out, text.size());
            return 0;
          }};
}

}  // namespace recur::cli
