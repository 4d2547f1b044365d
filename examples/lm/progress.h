// How a training run reports its progress: a redrawn progress bar on a terminal, plain log lines
// otherwise (a file, a pipe, CI), nothing in tests.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace recur::lm {

struct ProgressInfo {
  int64_t step = 0;
  int64_t total_steps = 0;  // 0: bounded by time only
  int64_t epoch = 0;
  double loss = 0.0;  // the mean training loss of the recent steps
  double lr = 0.0;
  double tokens_per_s = 0.0;
  double elapsed_s = 0.0;  // training time
  double fraction = 0.0;   // of the run done, in [0, 1]
  double eta_s = -1.0;     // < 0: unknown
};

class Reporter {
 public:
  virtual ~Reporter() = default;
  // After every step (a terminal bar redraws, at most a few times a second).
  virtual void step(const ProgressInfo& info) = 0;
  // At every metrics row (the plain log writes a line).
  virtual void log(const ProgressInfo& info) = 0;
  // A line of its own: an evaluation result, a checkpoint, the end of the run.
  virtual void message(const std::string& line) = 0;
  // Ends the bar's line (before the program prints something else or exits).
  virtual void finish() {}
  // Something the user should know that does not stop the run: "warning: <line>" on stderr,
  // whatever the kind of reporter.
  virtual void warning(const std::string& line);
};

enum class ReporterKind : uint8_t { Auto, Bar, Plain, Quiet };

// Auto: Bar when `out` is a terminal, Plain otherwise.
std::unique_ptr<Reporter> make_reporter(ReporterKind kind, std::FILE* out = stdout);

// Keeps the messages (tests).
class CollectingReporter : public Reporter {
 public:
  void step(const ProgressInfo&) override {}
  void log(const ProgressInfo&) override {}
  void message(const std::string& line) override { messages.push_back(line); }
  void warning(const std::string& line) override { warnings.push_back(line); }
  std::vector<std::string> messages, warnings;
};

// "1:05:03", "04:12": a duration for humans.
std::string format_duration(double seconds);
// "26.1k", "1.2M".
std::string format_count(double value);

}  // namespace recur::lm
