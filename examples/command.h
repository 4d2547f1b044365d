// A subcommand of the `recur` program. Each lives in its own cmd_<name>.cpp, which defines one
// add_<name>_command() that declares the subcommand's options on the parent CLI11 app and
// returns what to run once the command line has been parsed. recur_main.cpp calls each
// add_<name>_command() once: adding a subcommand is one new file plus one line there.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace recur::lm {
struct TrainOptions;
}

namespace recur::cli {

struct Command {
  CLI::App* app = nullptr;   // the CLI11 subcommand, owned by the parent app
  std::function<int()> run;  // runs the command after parsing; returns the exit status
};

// recur info: version, build, BLAS, threads, CUDA and cuDNN, visible GPUs.
Command add_info_command(CLI::App& parent);
// recur inspect FILE.safetensors: tensors, sizes and metadata of a checkpoint.
Command add_inspect_command(CLI::App& parent);

// recur convert --from tensorflow: a TensorFlow checkpoint's RNN as recur's weights (cmd_convert.cpp).
Command add_convert_command(CLI::App& parent);

// recur rnn-eval: run an RNN case file forward and backward (cmd_rnn_eval.cpp).
Command add_rnn_eval_command(CLI::App& parent);
// recur gradcheck: the RNN's gradients against finite differences or another device (cmd_gradcheck.cpp).
Command add_gradcheck_command(CLI::App& parent);

// recur bench train-step: time a language-model training step (cmd_bench.cpp).
Command add_bench_command(CLI::App& parent);

// recur train: train a character-level language model (cmd_train.cpp, examples/lm/).
Command add_train_command(CLI::App& parent);
// The options of `recur train` that describe its step (the model, the regularizers, the batch, the
// optimizer, --clip, --seed, --device), added to `app` with `options` holding their values and
// defaults: `recur bench train-step` takes them too (cmd_train.cpp).
void add_step_options(CLI::App& app, lm::TrainOptions& options);
// recur sample: generate text with a trained language model.
Command add_sample_command(CLI::App& parent);
// recur eval: a trained language model's loss on a text file.
Command add_eval_command(CLI::App& parent);
// recur corpus: write a synthetic text corpus.
Command add_corpus_command(CLI::App& parent);
// recur plot: the validation curves of several runs in one SVG (cmd_plot.cpp).
Command add_plot_command(CLI::App& parent);

}  // namespace recur::cli
