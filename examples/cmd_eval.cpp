// recur eval --checkpoint DIR --data FILE
//
// The loss of a trained language model on any text, in nats and bits per character (per byte for
// a bytes vocabulary; nats per word and perplexity for words): one pass
// over the whole file with the hidden state carried (examples/lm/evaluate.h), laid out as
// training's evaluation is (the same defaults), which the result line says. A symbol outside the
// model's vocabulary is an error, or with --unknown skip is left out and counted; a word outside a
// words vocabulary is <unk>, and the result says how many words were.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "examples/command.h"
#include "examples/lm/checkpoint.h"
#include "examples/lm/data.h"
#include "examples/lm/evaluate.h"
#include "examples/lm/train_options.h"
#include "examples/lm/word_tokenizer.h"

namespace recur::cli {

Command add_eval_command(CLI::App& parent) {
  struct State {
    std::string checkpoint, which = "latest", data, device = "cpu";
    int64_t batch = lm::TrainOptions{}.eval_batch, bptt = lm::TrainOptions{}.eval_bptt;  // training's evaluation
    std::string unknown = "error";
  };
  auto state = std::make_shared<State>();
  CLI::App* app = parent.add_subcommand("eval", "The loss of a trained language model on a text file");
  app->add_option("--checkpoint", state->checkpoint, "a run folder, a checkpoint folder or its model.safetensors")
      ->required();
  app->add_option("--which", state->which, "a run folder's latest or best (by validation loss) checkpoint")
      ->check(CLI::IsMember({"latest", "best"}))
      ->capture_default_str();
  app->add_option("--data", state->data, "the text to evaluate on")->required();
  app->add_option("--batch", state->batch, "parallel streams (as train --eval-batch)")->capture_default_str();
  app->add_option("--bptt", state->bptt, "chunk length (as train --eval-bptt)")->capture_default_str();
  app->add_option("--unknown", state->unknown,
                  "a symbol outside the model's vocabulary: error, or skip it (and say how many were skipped)")
      ->check(CLI::IsMember({"error", "skip"}))
      ->capture_default_str();
  app->add_option("--device", state->device, "cpu or cuda[:N]")->capture_default_str();
  return {app, [state] {
            const Device device = Device::parse(state->device);
            const lm::Checkpoint checkpoint =
                lm::load_checkpoint(state->checkpoint, lm::LoadParts::Model, lm::parse_which(state->which));
            std::unique_ptr<lm::LanguageModel> model = lm::model_from_checkpoint(checkpoint);
            if (!device.is_cpu()) model->to(device);
            const std::string what = fmt::format("data file '{}'", state->data);
            std::map<uint32_t, int64_t> skipped;
            const std::vector<int32_t> tokens = checkpoint.vocab.encode_known(
                lm::read_text_file(state->data), what, state->unknown == "skip" ? &skipped : nullptr);
            if (!skipped.empty())
              fmt::print("{}: skipped {}\n", state->data, checkpoint.vocab.describe_skipped(skipped));
            const lm::EvalResult result = lm::evaluate(*model, tokens, state->batch, state->bptt, device, what);
            const lm::VocabKind kind = checkpoint.vocab.kind();
            if (kind == lm::VocabKind::Words) {
              const auto unknown = std::count(tokens.begin(), tokens.end(), checkpoint.vocab.word_id(lm::kUnknownWord));
              fmt::print("{}: {} of {} words are <unk> (outside the vocabulary of {} words, or <unk> in the text)\n",
                         state->data, unknown, tokens.size(), checkpoint.vocab.size());
            }
            const std::string unit = lm::symbol_unit(kind);
            const std::string second = kind == lm::VocabKind::Words
                                           ? fmt::format("perplexity {:.1f}", std::exp(result.loss))
                                           : fmt::format("{:.4f} bits/{}", result.bits(), unit);
            fmt::print("{}: loss {:.4f} nats/{}, {} over {} {}s ({}; {}; {:.1f} s)\n", state->data, result.loss, unit,
                       second, result.tokens, unit, checkpoint.model.summary(), result.layout(), result.seconds);
            return 0;
          }};
}

}  // namespace recur::cli
