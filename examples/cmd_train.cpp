// recur train --data FILE [options]   |   recur train --resume DIR [options]
// recur train --config RUN/config.json [options]   |   recur train --init-from RUN --data FILE [options]
//
// Trains a character-level language model (examples/lm/trainer.h) and writes the run folder:
// config.json, metrics.csv, loss.svg, checkpoint/ and checkpoint-best/, holding its lock. SIGINT and SIGTERM stop the
// run after the current step with a checkpoint (exit status 0); a second signal exits at once with status 130
// (examples/stop_signals.h receives them).
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>

#include "backends/distributed.h"
#include "examples/command.h"
#include "examples/lm/data.h"
#include "examples/lm/trainer.h"
#include "examples/stop_signals.h"

namespace recur::cli {
namespace {

lm::ReporterKind reporter_kind(const std::string& name) {
  if (name == "bar") return lm::ReporterKind::Bar;
  if (name == "plain") return lm::ReporterKind::Plain;
  if (name == "quiet") return lm::ReporterKind::Quiet;
  return lm::ReporterKind::Auto;
}

}  // namespace

// The options of a training step, shared with `recur bench train-step` (cmd_bench.cpp): the model
// and its regularizers, the batch, the optimizer, the seed and the device.
void add_step_options(CLI::App& app, lm::TrainOptions& o) {
  app.add_option("--mode", o.mode, "lstm, gru, rnn_tanh or rnn_relu")
      ->check(CLI::IsMember({"lstm", "gru", "rnn_tanh", "rnn_relu"}));
  app.add_option("--embedding", o.embedding, "the RNN's input size (the embedding size)")->check(CLI::PositiveNumber);
  app.add_option("--hidden", o.hidden, "hidden size")->check(CLI::PositiveNumber);
  app.add_option("--layers", o.layers, "RNN layers")->check(CLI::PositiveNumber);
  app.add_option("--dropout", o.dropout, "dropout between RNN layers and before the head");
  app.add_option("--proj", o.proj, "LSTM projection size (0 = none)")->check(CLI::NonNegativeNumber);
  app.add_option("--dropout-e", o.dropout_e, "embedding dropout: whole words dropped, one mask per batch");
  app.add_option("--dropout-i", o.dropout_i, "locked dropout on the embedding output: one mask per sequence");
  app.add_option("--dropout-o", o.dropout_o, "locked dropout on the last RNN layer's output: one mask per sequence");
  // A dropout rate: a number in [0, 1).
  const CLI::Validator rate(
      [](std::string& text) {
        char* end = nullptr;
        const double p = std::strtod(text.c_str(), &end);
        const bool ok = !text.empty() && end == text.c_str() + text.size() && p >= 0.0 && p < 1.0;
        return ok ? std::string() : "must be a number in [0, 1), got " + text;
      },
      "in [0, 1)");
  app.add_option("--dropout-h", o.dropout_h, "locked dropout between RNN layers: one mask per sequence")->check(rate);
  app.add_option("--wdrop", o.wdrop, "weight dropout on every RNN layer's W_hh: one mask per batch")->check(rate);
  app.add_option("--ar", o.ar, "activation regularization: alpha * mean(output^2), output after --dropout-o");
  app.add_option("--tar", o.tar, "temporal activation regularization: beta * mean((h_t - h_{t-1})^2)");
  app.add_flag("--tie-weights", o.tie_weights,
               "the head's weight is the embedding matrix (the last layer's output size must equal --embedding)");
  app.add_flag_callback(
      "--no-bias", [options = &o] { options->bias = false; }, "RNN without biases");
  app.add_flag("--bidirectional", o.bidirectional, "(refused: a language model reads left to right)");
  app.add_option("--input-mode", o.input_mode, "linear_input, skip_input or auto_select")
      ->check(CLI::IsMember({"linear_input", "skip_input", "auto_select"}));
  app.add_flag("--peepholes", o.peepholes, "LSTM peephole connections");
  app.add_option("--cell-clip", o.cell_clip, "clip the LSTM cell state (0 = none)");
  app.add_option("--proj-clip", o.proj_clip, "clip the LSTM projection (0 = none)");
  app.add_option("--forget-bias", o.forget_bias, "added to the LSTM forget gate");
  app.add_option("--lstm-activation", o.lstm_activation, "tanh or relu")->check(CLI::IsMember({"tanh", "relu"}));
  app.add_option("--gru-variant", o.gru_variant, "linear_before_reset or reset_before_linear")
      ->check(CLI::IsMember({"linear_before_reset", "reset_before_linear"}));
  app.add_option("--impl", o.impl, "RNN implementation: auto, cells or fused")
      ->check(CLI::IsMember({"auto", "cells", "fused"}));
  app.add_option("--dtype", o.dtype, "float32 or float64: the parameters' and the computation's type")
      ->check(CLI::IsMember({"float32", "float64"}));
  app.add_flag("--allow-tf32", o.allow_tf32, "let float32 GEMMs on a GPU use TF32 (off by default)");
  app.add_option("--precision", o.precision,
                 "the CPU GEMMs' operands: f32, bf16 (bfloat16 with float32 accumulation; needs AVX512-BF16 or "
                 "AMX) or auto (bf16 where the CPU has AMX, else f32)")
      ->check(CLI::IsMember({"f32", "bf16", "auto"}));

  app.add_option("--batch", o.batch, "parallel streams B")->check(CLI::PositiveNumber);
  app.add_option("--bptt", o.bptt, "sequence length T (truncated back-propagation through time)")
      ->check(CLI::PositiveNumber);
  app.add_flag("--bptt-jitter", o.bptt_jitter,
               "a random length per batch around --bptt (AWD-LSTM), the learning rate scaled by length / --bptt");
  app.add_option("--optimizer", o.optimizer, "adam, adamw, rmsprop, sgd or ntasgd (AWD-LSTM's NT-ASGD)")
      ->check(CLI::IsMember({"adam", "adamw", "rmsprop", "sgd", "ntasgd"}));
  app.add_option("--lr", o.lr,
                 "learning rate (0 = the optimizer's: 5e-3 adam and adamw, 2e-3 rmsprop, 1 sgd and ntasgd)");
  app.add_option("--weight-decay", o.weight_decay, "weight decay (< 0 = the optimizer's: 0.01 adamw, else 0)");
  app.add_option("--momentum", o.momentum, "SGD momentum");
  app.add_option("--clip", o.clip, "clip the global gradient norm (0 = none)");
  app.add_option("--seed", o.seed, "seed of the initialisation and dropout");
  app.add_option("--device", o.device, "cpu or cuda[:N] (cuDNN RNN)");
}

Command add_train_command(CLI::App& parent) {
  struct State {
    lm::TrainOptions options;
    std::string resume, config, progress = "auto";
  };
  auto state = std::make_shared<State>();
  lm::TrainOptions& o = state->options;
  CLI::App* app = parent.add_subcommand("train", "Train a character- or word-level language model on a text file");
  app->add_option("--data", o.data, "the text to learn (any file; the last --valid-fraction is held out)");
  app->add_option("--vocab", o.vocab,
                  "symbols: chars (UTF-8 code points of the text), bytes (all 256) or words (words, punctuation and "
                  "<eol>)")
      ->check(CLI::IsMember({"bytes", "chars", "words"}));
  app->add_option("--min-count", o.min_count, "words: a word seen fewer times in the file is <unk>");
  app->add_option("--max-vocab", o.max_vocab,
                  "words: keep the most frequent, at most this many tokens with <unk> and <eol> (0 = all)");
  app->add_option("--valid-fraction", o.valid_fraction, "the validation part, at the end of the file");
  app->add_option("--resume", state->resume, "continue the run in this folder from its checkpoint");
  app->add_option("--out", o.out, "the run folder")->default_str("runs/<timestamp>");
  app->add_option("--config", state->config,
                  "the options of this config.json (a run's), with the command line's over them");
  app->add_option("--init-from", o.init_from,
                  "start from the weights of this run's (or checkpoint folder's) checkpoint, with its model and "
                  "vocabulary");

  add_step_options(*app, o);
  app->add_option("--nonmono", o.nonmono,
                  "ntasgd: average once the validation loss is worse than the best of the evaluations before the "
                  "last N")
      ->check(CLI::PositiveNumber);
  app->add_option("--lr-schedule", o.lr_schedule, "constant, cosine or step")
      ->check(CLI::IsMember({"constant", "cosine", "step"}));
  app->add_option("--warmup", o.warmup, "learning-rate warm-up steps (linear from 0)");
  app->add_option("--decay-steps", o.decay_steps, "the schedule's length in steps (0 = the run's length)");
  app->add_option("--min-lr", o.min_lr, "cosine floor, a fraction of --lr");
  app->add_option("--lr-step-size", o.lr_step_size, "step schedule period in steps (0 = a third of the run)");
  app->add_option("--lr-gamma", o.lr_gamma, "step schedule factor");
  app->add_option("--steps", o.steps, "stop after this many steps (0 = no step limit)");
  app->add_option("--minutes", o.minutes, "stop after this much training time, evaluation excluded (0 = none)");
  app->add_option("--eval-every", o.eval_every,
                  "evaluate and checkpoint every N steps (0 = 5 times per run; config.json records the interval)");
  app->add_option("--checkpoint-every", o.checkpoint_every,
                  "checkpoint every N steps too (0 = at evaluations, the end and a signal only)");
  app->add_option("--log-every", o.log_every,
                  "a metrics.csv row every N steps (0 = 200 rows per run; config.json records the interval)");
  app->add_option("--eval-batch", o.eval_batch, "streams of the validation pass");
  app->add_option("--eval-bptt", o.eval_bptt, "chunk length of the validation pass");
  app->add_option("--max-bad-steps", o.max_bad_steps, "stop after this many non-finite steps in a row");
  app->add_option("--progress", state->progress,
                  "on stderr: auto (a bar on a terminal, else plain lines), bar, plain or quiet")
      ->check(CLI::IsMember({"auto", "bar", "plain", "quiet"}));
  app->footer(
      "Progress goes to stderr, the result (the run folder) to stdout. --threads N (before or after the "
      "subcommand) sets the CPU threads. docs/TRAINING.md has the details.");

  return {app, [state, app] {
            lm::TrainOptions options = state->options;
            std::set<std::string> given;
            for (const CLI::Option* option : app->get_options()) {
              const std::string name = option->get_lnames().empty() ? "" : option->get_lnames().front();
              if (option->count() == 0 || name.empty() || name == "resume" || name == "config" || name == "progress" ||
                  name == "help") {
                continue;
              }
              given.insert(name == "no-bias" ? "bias" : name);
            }
            // --threads belongs to the program (recur_main.cpp): a resumed run keeps its own count without it.
            if (const CLI::Option* threads = app->get_parent()->get_option_no_throw("--threads");
                threads != nullptr && threads->count() > 0) {
              given.insert("threads");
            }
            // Under an MPI launcher only rank 0 reports (docs/DISTRIBUTED.md); the others print warnings alone.
            const bool replica = distributed::launch_environment().rank != 0;
            std::unique_ptr<lm::Reporter> reporter =
                lm::make_reporter(replica ? lm::ReporterKind::Quiet : reporter_kind(state->progress), stderr);
            if (!state->config.empty()) {
              RECUR_CHECK(state->resume.empty(),
                          "--config cannot be combined with --resume: a resumed run keeps the options of its own "
                          "config.json");
              nlohmann::json config;
              try {
                config = nlohmann::json::parse(lm::read_text_file(state->config));
              } catch (const nlohmann::json::exception& e) {
                RECUR_FAIL("--config {}: not valid JSON ({})", state->config, e.what());
              }
              options = lm::options_from_config(config, state->config, options, given);
              // The run's thread count and GEMM provider too, so that the run repeats bit for bit.
              if (config.is_object()) lm::restore_compute_settings(config, state->config, given, *reporter);
            }
            const std::atomic<int>& stop = stop_requests();  // from here on a signal stops the run cleanly
            std::unique_ptr<lm::Trainer> trainer;
            if (!state->resume.empty()) {
              trainer = lm::Trainer::resume(state->resume, options, given, *reporter);
            } else {
              if (options.data.empty()) throw Error("no data: give --data FILE (or --resume DIR)");
              if (!options.init_from.empty()) {
                const lm::Checkpoint init = lm::load_checkpoint(options.init_from, lm::LoadParts::Model);
                lm::take_model_options(options, init.model, init.vocab, given);
              }
              trainer = std::make_unique<lm::Trainer>(options, *reporter);
            }
            const lm::TrainResult result = trainer->run(&stop);
            reporter->finish();
            if (result.end == lm::RunEnd::Interrupted && distributed::world().size() > 1) {
              // Every rank has its part of the checkpoint written: leave together, now, since
              // mpirun, ending the job after its SIGTERM, may not answer MPI_Finalize in time.
              distributed::world().exit_together(0);
            }
            if (result.end == lm::RunEnd::Finished && trainer->is_root()) {
              // The result, on stdout (progress and messages went to stderr).
              fmt::print("trained {} steps ({} tokens) in {:.1f} s of training: validation loss {}\n", result.step,
                         result.tokens, result.elapsed_s,
                         lm::describe_loss(result.validation.loss, trainer->vocab().kind()));
              fmt::print("run folder: {} (metrics.csv, loss.svg, checkpoint/)\n", result.run_dir);
              fmt::print("sample with: recur sample --checkpoint {}\n", result.run_dir);
              std::fflush(stdout);
            }
            return 0;
          }};
}

}  // namespace recur::cli
