// The training log of a run: metrics.csv and loss.svg in the run folder.
//
// metrics.csv has one row per log interval (and one at every evaluation):
//   step,epoch,tokens,elapsed_s,lr,train_loss,val_loss,tokens_per_s,grad_norm
// train_loss is the mean loss (nats per token) of the steps since the previous row, grad_norm
// their mean gradient norm before clipping, val_loss empty except on evaluation rows. Losses are
// written with 9 significant digits, enough to tell any two float32 values apart.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace recur::lm {

struct MetricsRow {
  static constexpr double kNone = std::numeric_limits<double>::quiet_NaN();
  int64_t step = 0;
  int64_t epoch = 0;
  int64_t tokens = 0;
  double elapsed_s = 0.0;
  double lr = 0.0;
  double train_loss = kNone;
  double val_loss = kNone;
  double tokens_per_s = kNone;
  double grad_norm = kNone;
};

struct TrainProgress;

// The open log interval, kept in TrainProgress (interval_*) so that a checkpoint carries it:
// a step adds its tokens, time, loss (NaN when not finite) and, when `applied`, its gradient
// norm; closing it gives metrics.csv's row (mean loss, mean norm, tokens per second) and
// starts the next.
void add_step_to_interval(TrainProgress& progress, int64_t tokens, double seconds, double loss, double grad_norm,
                          bool applied);
MetricsRow close_interval(TrainProgress& progress, double lr, double val_loss);
// The interval's mean training loss so far (NaN when it has no step).
double interval_loss(const TrainProgress& progress);

std::string metrics_header();
std::string format_metrics_row(const MetricsRow& row);
std::string metrics_csv(const std::vector<MetricsRow>& rows);
// Parses a metrics.csv written by format_metrics_row (recur::Error naming `what` and the line).
std::vector<MetricsRow> parse_metrics_csv(const std::string& text, const std::string& what);

// The loss curves (train and validation, nats per `unit` ("char", "byte"), against tokens seen) as
// an SVG document; points above the zoomed axis are marked (svg_plot.h).
std::string loss_svg(const std::vector<MetricsRow>& rows, const std::string& title, const std::string& unit = "char");

}  // namespace recur::lm
