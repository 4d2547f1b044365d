#include "examples/lm/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "core/error.h"
#include "examples/lm/checkpoint.h"
#include "examples/lm/svg_plot.h"

namespace recur::lm {
namespace {

std::string optional_number(double value, const char* format_spec) {
  return std::isfinite(value) ? fmt::format(fmt::runtime(format_spec), value) : std::string();
}

std::vector<std::string> split_commas(const std::string& line) {
  std::vector<std::string> fields;
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    fields.push_back(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return fields;
}

}  // namespace

void add_step_to_interval(TrainProgress& progress, int64_t tokens, double seconds, double loss, double grad_norm,
                          bool applied) {
  progress.interval_steps += 1;
  progress.interval_tokens += tokens;
  progress.interval_seconds += seconds;
  if (std::isfinite(loss)) progress.interval_loss_sum += loss;
  if (applied) progress.interval_norm_sum += grad_norm, progress.interval_norms += 1;
}

double interval_loss(const TrainProgress& progress) {
  if (progress.interval_steps == 0) return MetricsRow::kNone;
  return progress.interval_loss_sum / static_cast<double>(progress.interval_steps);
}

MetricsRow close_interval(TrainProgress& progress, double lr, double val_loss) {
  MetricsRow row;
  row.step = progress.step;
  row.epoch = progress.epoch;
  row.tokens = progress.tokens;
  row.elapsed_s = progress.elapsed_s;
  row.lr = lr;
  row.train_loss = interval_loss(progress);
  row.val_loss = val_loss;
  if (progress.interval_seconds > 0) {
    row.tokens_per_s = static_cast<double>(progress.interval_tokens) / progress.interval_seconds;
  }
  if (progress.interval_norms > 0) {
    row.grad_norm = progress.interval_norm_sum / static_cast<double>(progress.interval_norms);
  }
  progress.interval_steps = progress.interval_tokens = progress.interval_norms = 0;
  progress.interval_loss_sum = progress.interval_norm_sum = progress.interval_seconds = 0.0;
  return row;
}

std::string metrics_header() { return "step,epoch,tokens,elapsed_s,lr,train_loss,val_loss,tokens_per_s,grad_norm"; }

std::string format_metrics_row(const MetricsRow& row) {
  return fmt::format("{},{},{},{:.3f},{:.6g},{},{},{},{}", row.step, row.epoch, row.tokens, row.elapsed_s, row.lr,
                     optional_number(row.train_loss, "{:.9g}"), optional_number(row.val_loss, "{:.9g}"),
                     optional_number(row.tokens_per_s, "{:.1f}"), optional_number(row.grad_norm, "{:.6g}"));
}

std::string metrics_csv(const std::vector<MetricsRow>& rows) {
  std::string text = metrics_header() + "\n";
  for (const MetricsRow& row : rows) text += format_metrics_row(row) + "\n";
  return text;
}

std::vector<MetricsRow> parse_metrics_csv(const std::string& text, const std::string& what) {
  std::istringstream lines(text);
  std::string line;
  RECUR_CHECK(std::getline(lines, line) && line == metrics_header(), "{}: expected the header '{}', got '{}'", what,
              metrics_header(), line.substr(0, 100));
  std::vector<MetricsRow> rows;
  int line_number = 1;
  while (std::getline(lines, line)) {
    ++line_number;
    if (line.empty()) continue;
    const std::vector<std::string> fields = split_commas(line);
    RECUR_CHECK(fields.size() == 9, "{}: line {} has {} fields, expected 9", what, line_number, fields.size());
    auto number = [&](size_t i) {
      if (fields[i].empty()) return MetricsRow::kNone;
      char* end = nullptr;
      const double value = std::strtod(fields[i].c_str(), &end);
      RECUR_CHECK(end != nullptr && *end == '\0', "{}: line {}: '{}' is not a number", what, line_number, fields[i]);
      return value;
    };
    MetricsRow row;
    row.step = static_cast<int64_t>(number(0));
    row.epoch = static_cast<int64_t>(number(1));
    row.tokens = static_cast<int64_t>(number(2));
    row.elapsed_s = number(3);
    row.lr = number(4);
    row.train_loss = number(5);
    row.val_loss = number(6);
    row.tokens_per_s = number(7);
    row.grad_norm = number(8);
    rows.push_back(row);
  }
  return rows;
}

std::string loss_svg(const std::vector<MetricsRow>& rows, const std::string& title, const std::string& unit) {
  PlotSeries train{"train loss", "#1f77b4", {}, false};
  PlotSeries valid{"validation loss", "#d62728", {}, true};
  for (const MetricsRow& row : rows) {
    const auto tokens = static_cast<double>(row.tokens);
    if (std::isfinite(row.train_loss)) train.points.emplace_back(tokens, row.train_loss);
    if (std::isfinite(row.val_loss)) valid.points.emplace_back(tokens, row.val_loss);
  }
  LinePlot plot;
  // Zoom on the part that matters: the first steps' losses (ln V and down) would flatten the
  // rest of the curve, so the axis stops at 4 times the spread of the lower half above the minimum.
  std::vector<double> losses;
  for (const auto& [x, y] : train.points) losses.push_back(y);
  for (const auto& [x, y] : valid.points) losses.push_back(y);
  if (losses.size() >= 10) {
    std::sort(losses.begin(), losses.end());
    const double lowest = losses.front(), median = losses[losses.size() / 2];
    plot.y_limit = lowest + 4.0 * (median - lowest) + 0.05;
  }
  plot.title = title;
  plot.x_label = "tokens seen";
  plot.y_label = fmt::format("loss (nats per {})", unit);
  plot.series = {train, valid};
  return render_svg(plot);
}

}  // namespace recur::lm
