// recur plot RUN... --out FILE.svg [--name NAME]... [--x minutes,tokens] [--y perplexity|loss]
//
// The validation curves of several runs in one SVG document, one panel per x axis (training
// minutes, tokens seen or steps), one line per run, from each run's metrics.csv (the rows that
// hold a validation loss). Perplexity is e^loss, the loss in nats per token. Prints a table of
// each run's final and best value, steps, tokens and training time.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "examples/command.h"
#include "examples/lm/data.h"
#include "examples/lm/metrics.h"
#include "examples/lm/svg_plot.h"

namespace recur::cli {
namespace {

// The colors of the series, in order (matplotlib's first ones).
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

struct Run {
  std::string name;
  std::vector<lm::MetricsRow> evaluations;  // the rows with a validation loss
  lm::MetricsRow last;                      // the last row of metrics.csv
};

Run read_run(const std::string& given, const std::string& name) {
  const std::string path = std::filesystem::is_directory(given) ? given + "/metrics.csv" : given;
  RECUR_CHECK(std::filesystem::is_regular_file(path), "'{}' is neither a run folder with a metrics.csv nor a file",
              given);
  const std::vector<lm::MetricsRow> rows = lm::parse_metrics_csv(lm::read_text_file(path), path);
  RECUR_CHECK(!rows.empty(), "{}: no rows", path);
  Run run{name, {}, rows.back()};
  for (const lm::MetricsRow& row : rows) {
    if (std::isfinite(row.val_loss)) run.evaluations.push_back(row);
  }
  RECUR_CHECK(!run.evaluations.empty(), "{}: no row has a validation loss", path);
  if (run.name.empty()) {
    std::filesystem::path folder = std::filesystem::absolute(std::filesystem::path(path).parent_path());
    folder = folder.lexically_normal();
    if (!folder.has_filename()) folder = folder.parent_path();  // "runs/x/" ends in an empty name
    run.name = folder.filename().string();
  }
  return run;
}

double x_value(const lm::MetricsRow& row, const std::string& axis) {
  if (axis == "minutes") return row.elapsed_s / 60.0;
  if (axis == "tokens") return static_cast<double>(row.tokens);
  return static_cast<double>(row.step);
}

int run_plot(const std::vector<std::string>& runs_given, const std::vector<std::string>& names, const std::string& out,
             const std::vector<std::string>& x_axes, const std::string& y_axis, const std::string& title) {
  RECUR_CHECK(names.empty() || names.size() == runs_given.size(), "--name was given {} times for {} runs", names.size(),
              runs_given.size());
  std::vector<Run> runs;
  for (size_t i = 0; i < runs_given.size(); ++i) runs.push_back(read_run(runs_given[i], names.empty() ? "" : names[i]));
  const bool perplexity = y_axis == "perplexity";
  const auto y_value = [&](double loss) { return perplexity ? std::exp(loss) : loss; };

  const std::map<std::string, std::string> x_labels = {
      {"minutes", "training time (minutes)"}, {"tokens", "tokens seen"}, {"steps", "steps"}};
  std::vector<lm::LinePlot> panels;
  for (const std::string& axis : x_axes) {
    lm::LinePlot panel;
    panel.title = title.empty() ? fmt::format("validation {} against {}", y_axis, x_labels.at(axis))
                                : fmt::format("{}: against {}", title, x_labels.at(axis));
    panel.x_label = x_labels.at(axis);
    panel.y_label = perplexity ? "validation perplexity (e^loss)" : "validation loss (nats per token)";
    for (size_t i = 0; i < runs.size(); ++i) {
      lm::PlotSeries series{runs[i].name, kColors[i % std::size(kColors)], {}, true};
      for (const lm::MetricsRow& row : runs[i].evaluations) {
        series.points.emplace_back(x_value(row, axis), y_value(row.val_loss));
      }
      panel.series.push_back(std::move(series));
    }
    // Zoom past the first evaluations' high values: the axis stops at 3 times the spread of the
    // lower half of the values above the lowest.
    std::vector<double> values;
    for (const lm::PlotSeries& series : panel.series) {
      for (const auto& [x, y] : series.points) values.push_back(y);
    }
    std::sort(values.begin(), values.end());
    if (values.size() >= 6) {
      const double lowest = values.front(), median = values[values.size() / 2];
      panel.y_limit = lowest + 3.0 * (median - lowest) + (perplexity ? 1.0 : 0.01);
    }
    panels.push_back(std::move(panel));
  }
  write_file_atomically(out, lm::render_svg_panels(panels));

  const char* unit = perplexity ? "perplexity" : "loss";
  size_t name_width = 4;
  for (const Run& run : runs) name_width = std::max(name_width, run.name.size());
  fmt::print("{:<{}}  {:>12}  {:>12}  {:>8}  {:>11}  {:>8}\n", "run", name_width, fmt::format("final {}", unit),
             fmt::format("best {}", unit), "steps", "tokens", "minutes");
  for (const Run& run : runs) {
    double best = run.evaluations.front().val_loss;
    for (const lm::MetricsRow& row : run.evaluations) best = std::min(best, row.val_loss);
    fmt::print("{:<{}}  {:>12.2f}  {:>12.2f}  {:>8}  {:>11}  {:>8.2f}\n", run.name, name_width,
               y_value(run.evaluations.back().val_loss), y_value(best), run.last.step, run.last.tokens,
               run.last.elapsed_s / 60.0);
  }
  fmt::print("{}: {} panel{}, {} run{}\n", out, panels.size(), panels.size() == 1 ? "" : "s", runs.size(),
             runs.size() == 1 ? "" : "s");
  return 0;
}

}  // namespace

Command add_plot_command(CLI::App& parent) {
  struct State {
    std::vector<std::string> runs;
    std::vector<std::string> names;
    std::string out;
    std::vector<std::string> x_axes{"minutes", "tokens"};
    std::string y_axis = "perplexity";
    std::string title;
  };
  auto state = std::make_shared<State>();
  CLI::App* app = parent.add_subcommand("plot", "Draw the validation curves of several runs in one SVG");
  app->add_option("runs", state->runs, "run folders (or their metrics.csv)")->required();
  app->add_option("--out", state->out, "the SVG file to write")->required();
  app->add_option("--name", state->names, "the legend name of each run, in order (default: the folder's name)")
      ->allow_extra_args(false);
  app->add_option("--x", state->x_axes, "one panel per x axis")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->check(CLI::IsMember({"minutes", "tokens", "steps"}))
      ->capture_default_str();
  app->add_option("--y", state->y_axis, "perplexity (e^loss) or loss (nats per token)")
      ->check(CLI::IsMember({"perplexity", "loss"}))
      ->capture_default_str();
  app->add_option("--title", state->title, "the panels' title");
  return {app, [state] {
            return run_plot(state->runs, state->names, state->out, state->x_axes, state->y_axis, state->title);
          }};
}

}  // namespace recur::cli
