// The `recur` program: one subcommand per file (cmd_*.cpp), registered below.
//
// Exit status: 0 on success, 2 for a bad command line (an unknown option gets "did you mean"),
// 1 for any other error (printed as one line "error: ..." on stderr), 130 when a second signal
// stops `train` at once.
//
// SIGINT and SIGTERM are blocked in every thread that computes and received on one thread of the
// program's own (examples/stop_signals.h), which main() starts before anything else: a signal
// handled inside oneDNN's GEMM would corrupt the heap.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "backends/distributed.h"
#include "backends/threading.h"
#include "examples/command.h"
#include "examples/stop_signals.h"
#include "recur/config.h"

namespace {

// The edit distance between a and b (insertions, deletions, substitutions).
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// Options that recur's subcommands once spelled another way, and their one name now (the
// vocabulary of docs/TRAINING.md: --bptt is every sequence length, --embedding every RNN input
// size, --proj every projection size).
struct Renamed {
  const char* old_name;
  const char* name;
};
constexpr Renamed kRenamed[] = {{"--seq", "--bptt"},
                                {"--input-size", "--embedding"},
                                {"--proj-size", "--proj"},
                                {"--vocab", "--vocab-size"},
                                {"--warmup", "--untimed-steps"}};

// " (did you mean --hidden?)" for the first unexpected "--name" that is close to an option of
// `app` or of the subcommand being parsed, or " (--seq is now --bptt)" for an old name, else "".
std::string suggestion(const CLI::App* app) {
  std::vector<const CLI::App*> scopes{app};
  for (size_t i = 0; i < scopes.size(); ++i) {  // and the subcommands being parsed, at every depth
    for (const CLI::App* sub : scopes[i]->get_subcommands()) scopes.push_back(sub);
  }
  const auto known = [&](const std::string& name) {
    for (const CLI::App* scope : scopes) {
      if (scope->get_option_no_throw(name) != nullptr) return true;
    }
    return false;
  };
  for (const std::string& extra : app->remaining(true)) {
    if (extra.rfind("--", 0) != 0) continue;
    const std::string given = extra.substr(0, extra.find('='));
    for (const Renamed& r : kRenamed) {
      if (given == r.old_name && known(r.name)) return fmt::format(" ({} is now {})", r.old_name, r.name);
    }
    std::string best;
    size_t best_distance = 3;  // suggest only close names
    for (const CLI::App* scope : scopes) {
      for (const CLI::Option* option : scope->get_options()) {
        for (const std::string& name : option->get_lnames()) {
          const size_t d = edit_distance(given, "--" + name);
          if (d < best_distance) best_distance = d, best = "--" + name;
        }
      }
    }
    if (!best.empty()) return fmt::format(" (did you mean {}?)", best);
  }
  return "";
}

std::string failure(const CLI::App* app, const CLI::Error& e) {
  return fmt::format("error: {}{}\n", e.what(), suggestion(app));
}

// The one error line, and exit status 1. In a data-parallel run (mpirun -np N) the line names
// the rank, and the whole job ends (MPI_Abort): the other ranks would wait for this one forever.
int fail(const std::string& message) {
  if (recur::distributed::world_created()) {
    recur::distributed::ProcessGroup& world = recur::distributed::world();
    if (world.size() > 1) {
      fmt::print(stderr, "error: rank {} of {}: {}\n", world.rank(), world.size(), message);
      world.abort(1);
    }
  }
  fmt::print(stderr, "error: {}\n", message);
  return 1;
}

}  // namespace

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
  // Every option shows its default the same way, "--hidden INT=256" (inherited by the subcommands;
  // an option whose default stands for a computed value says what it stands for in its text).
  app.option_defaults()->always_capture_default();

  int threads = 0;
  app.add_option("--threads", threads, "CPU threads for recur and the BLAS (0 = all cores; train --resume: the run's)")
      ->check(CLI::Range(0, 4096));

  const std::vector<recur::cli::Command> commands = {
      recur::cli::add_info_command(app),     recur::cli::add_train_command(app),
      recur::cli::add_sample_command(app),   recur::cli::add_eval_command(app),
      recur::cli::add_corpus_command(app),   recur::cli::add_inspect_command(app),
      recur::cli::add_rnn_eval_command(app), recur::cli::add_gradcheck_command(app),
      recur::cli::add_bench_command(app),    recur::cli::add_convert_command(app),
      recur::cli::add_plot_command(app),
  };

  // A bad command line is one line too: "error: ..." (CLI11's default adds a second one).
  app.failure_message(failure);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) sub->failure_message(failure);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints --help, --version or the one error line
    return code == 0 ? 0 : 2;      // every bad command line exits 2, by convention
  }

  try {
    if (threads > recur::hardware_threads()) {
      // More threads than cores spin against each other in OpenMP's and the BLAS's waits: on a
      // loaded 2-core machine a step went from 9 ms to over a second.
      fmt::print(stderr,
                 "warning: --threads {} exceeds the {} cores available; steps can be many times slower "
                 "(OMP_WAIT_POLICY=passive softens it)\n",
                 threads, recur::hardware_threads());
    }
    if (threads > 0) recur::set_num_threads(threads);
    for (const recur::cli::Command& command : commands) {
      if (command.app->parsed()) return command.run();
    }
    return 0;
  } catch (const std::exception& e) {  // recur::Error (a caller's mistake) and everything else
    return fail(e.what());
  } catch (...) {
    return fail("unknown exception");
  }
}
