// The `recur` program: one subcommand per file (cmd_*.cpp), registered below.
//
// Exit status: 0 on success, CLI11's code for a bad command line, 1 for any error (printed as
// one line "error: ..." on stderr).
//
// SIGINT and SIGTERM are blocked in every thread that computes and received on one thread of the
// program's own (examples/stop_signals.h), which main() starts before anything else: a signal
// handled inside oneDNN's GEMM would corrupt the heap.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <vector>

#include "backends/threading.h"
#include "examples/command.h"
#include "examples/stop_signals.h"
#include "recur/config.h"

int main(int argc, char** argv) {
  try {
    recur::cli::start_signal_thread();  // before any thread starts, so that every thread inherits the mask
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  CLI::App app{"recur: train and run recurrent language models", "recur"};
  app.set_version_flag("--version", "recur " RECUR_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand

  int threads = 0;
  app.add_option("--threads", threads,
                 "CPU threads for recur and the BLAS (default: all cores; train --resume: the run's)")
      ->check(CLI::Range(0, 4096));

  const std::vector<recur::cli::Command> commands = {
      recur::cli::add_info_command(app),     recur::cli::add_train_command(app),
      recur::cli::add_sample_command(app),   recur::cli::add_eval_command(app),
      recur::cli::add_corpus_command(app),   recur::cli::add_inspect_command(app),
      recur::cli::add_rnn_eval_command(app), recur::cli::add_gradcheck_command(app),
      recur::cli::add_bench_command(app),
  };

  // A bad command line is one line too: "error: ..." (CLI11's default adds a second one).
  app.failure_message([](const CLI::App*, const CLI::Error& e) { return fmt::format("error: {}\n", e.what()); });
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    sub->failure_message([](const CLI::App*, const CLI::Error& e) { return fmt::format("error: {}\n", e.what()); });
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    if (threads > 0) recur::set_num_threads(threads);
    for (const recur::cli::Command& command : commands) {
      if (command.app->parsed()) return command.run();
    }
    return 0;
  } catch (const std::exception& e) {  // recur::Error (a caller's mistake) and everything else
    fmt::print(stderr, "error: {}\n", e.what());
  } catch (...) {
    fmt::print(stderr, "error: unknown exception\n");
  }
  return 1;
}
