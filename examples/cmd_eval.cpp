// recur eval --checkpoint DIR --data FILE
//
// The loss of a trained language model on any text, in nats and bits per character: one pass
// over the whole file with the hidden state carried (examples/lm/evaluate.h). Every symbol of
// the text must be in the model's vocabulary.
#include <fmt/format.h>

#include <memory>

#include "examples/command.h"
#include "examples/lm/checkpoint.h"
#include "examples/lm/data.h"
#include "examples/lm/evaluate.h"

namespace recur::cli {

Command add_eval_command(CLI::App& parent) {
  struct State {
    std::string checkpoint, which = "latest", data, device = "cpu";
    int64_t batch = 128, bptt = 256;
  };
  auto state = std::make_shared<State>();
  CLI::App* app = parent.add_subcommand("eval", "The loss of a trained language model on a text file");
  app->add_option("--checkpoint", state->checkpoint, "a run folder or its checkpoint folder")->required();
  app->add_option("--which", state->which, "a run folder's latest or best (by validation loss) checkpoint")
      ->check(CLI::IsMember({"latest", "best"}))
      ->capture_default_str();
  app->add_option("--data", state->data, "the text to evaluate on")->required();
  app->add_option("--batch", state->batch, "parallel streams")->capture_default_str();
  app->add_option("--bptt", state->bptt, "chunk length")->capture_default_str();
  app->add_option("--device", state->device, "cpu or cuda[:N]")->capture_default_str();
  return {app, [state] {
            const Device device = Device::parse(state->device);
            const lm::Checkpoint checkpoint = lm::load_checkpoint(state->checkpoint, /*training_state=*/false,
                                                                 lm::parse_which(state->which));
            std::unique_ptr<lm::LanguageModel> model = lm::model_from_checkpoint(checkpoint);
            if (!device.is_cpu()) model->to(device);
            const std::string what = fmt::format("data file '{}'", state->data);
            const std::vector<int32_t> tokens = checkpoint.vocab.encode(lm::read_text_file(state->data), what);
            const lm::EvalResult result = lm::evaluate(*model, tokens, state->batch, state->bptt, device, what);
            fmt::print("{}: loss {:.4f} nats/char, {:.4f} bits/char over {} chars ({}; {:.1f} s)\n", state->data,
                       result.loss, result.bits(), result.tokens, checkpoint.model.summary(), result.seconds);
            return 0;
          }};
}

}  // namespace recur::cli
