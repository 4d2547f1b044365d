#include "examples/lm/progress.h"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace recur::lm {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const auto total = static_cast<int64_t>(std::llround(seconds));
  const int64_t hours = total / 3600, minutes = total / 60 % 60, secs = total % 60;
  if (hours > 0) return fmt::format("{}:{:02}:{:02}", hours, minutes, secs);
  return fmt::format("{:02}:{:02}", minutes, secs);
}

std::string format_count(double value) {
  if (!std::isfinite(value)) return "?";
  if (std::abs(value) >= 1e6) return fmt::format("{:.2f}M", value / 1e6);
  if (std::abs(value) >= 1e3) return fmt::format("{:.1f}k", value / 1e3);
  return fmt::format("{:.0f}", value);
}

namespace {

std::string step_text(const ProgressInfo& info) {
  return info.total_steps > 0 ? fmt::format("step {}/{}", info.step, info.total_steps)
                              : fmt::format("step {}", info.step);
}

class BarReporter final : public Reporter {
 public:
  explicit BarReporter(std::FILE* out) : out_(out) {}
  ~BarReporter() override { finish(); }

  void step(const ProgressInfo& info) override {
    const auto now = std::chrono::steady_clock::now();
    if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    draw(info);
  }
  void log(const ProgressInfo& info) override { draw(info); }
  void message(const std::string& line) override {
    fmt::print(out_, "{}{}\n", drawn_ ? "\r\033[K" : "", line);
    drawn_ = false;
    std::fflush(out_);
  }
  void finish() override {
    if (drawn_) fmt::print(out_, "\n");
    drawn_ = false;
    std::fflush(out_);
  }

 private:
  void draw(const ProgressInfo& info) {
    const std::string tail =
        fmt::format(" {:3.0f}% | loss {:.4f} | {} tok/s | {} elapsed | ETA {}", 100.0 * info.fraction, info.loss,
                    format_count(info.tokens_per_s), format_duration(info.elapsed_s), format_duration(info.eta_s));
    const std::string head = step_text(info) + " ";
    const int columns = terminal_columns();
    const int bar_width = std::clamp(columns - static_cast<int>(head.size() + tail.size()) - 3, 0, 30);
    std::string bar;
    if (bar_width >= 5) {
      const int filled = static_cast<int>(std::lround(std::clamp(info.fraction, 0.0, 1.0) * bar_width));
      bar = fmt::format("[{}{}]", std::string(static_cast<size_t>(filled), '#'),
                        std::string(static_cast<size_t>(bar_width - filled), '.'));
    }
    std::string line = head + bar + tail;
    if (static_cast<int>(line.size()) >= columns) line.resize(static_cast<size_t>(std::max(columns - 1, 10)));
    fmt::print(out_, "\r\033[K{}", line);
    std::fflush(out_);
    drawn_ = true;
  }
  int terminal_columns() const {
    winsize size{};
    if (::ioctl(::fileno(out_), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
    return 100;
  }

  std::FILE* out_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

class PlainReporter final : public Reporter {
 public:
  explicit PlainReporter(std::FILE* out) : out_(out) {}
  void step(const ProgressInfo&) override {}
  // A line at most every few seconds (and at the last step), however often rows are written.
  void log(const ProgressInfo& info) override {
    const auto now = std::chrono::steady_clock::now();
    const bool last = info.total_steps > 0 && info.step >= info.total_steps;
    if (printed_ && now - last_print_ < std::chrono::seconds(5) && !last) return;
    printed_ = true;
    last_print_ = now;
    fmt::print(out_, "{} epoch {} loss {:.4f} lr {:.3g} {} tok/s elapsed {} eta {}\n", step_text(info), info.epoch,
               info.loss, info.lr, format_count(info.tokens_per_s), format_duration(info.elapsed_s),
               format_duration(info.eta_s));
    std::fflush(out_);
  }
  void message(const std::string& line) override {
    fmt::print(out_, "{}\n", line);
    std::fflush(out_);
  }

 private:
  std::FILE* out_;
  bool printed_ = false;
  std::chrono::steady_clock::time_point last_print_{};
};

class QuietReporter final : public Reporter {
 public:
  void step(const ProgressInfo&) override {}
  void log(const ProgressInfo&) override {}
  void message(const std::string&) override {}
};

}  // namespace

void Reporter::warning(const std::string& line) {
  finish();
  fmt::print(stderr, "warning: {}\n", line);
  std::fflush(stderr);
}

std::unique_ptr<Reporter> make_reporter(ReporterKind kind, std::FILE* out) {
  if (kind == ReporterKind::Auto) kind = ::isatty(::fileno(out)) ? ReporterKind::Bar : ReporterKind::Plain;
  switch (kind) {
    case ReporterKind::Bar: return std::make_unique<BarReporter>(out);
    case ReporterKind::Plain: return std::make_unique<PlainReporter>(out);
    default: return std::make_unique<QuietReporter>();
  }
}

}  // namespace recur::lm
