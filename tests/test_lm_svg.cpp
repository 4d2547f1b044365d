// The SVG loss plot and metrics.csv (examples/lm/svg_plot.h, examples/lm/metrics.h).
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <vector>

#include "examples/lm/metrics.h"
#include "examples/lm/svg_plot.h"

namespace recur::lm {
namespace {

// A small XML well-formedness check: every tag closes in order, attributes are quoted, and the
// only entities are the five of XML.
bool well_formed(const std::string& xml, std::string* why) {
  std::vector<std::string> open;
  size_t pos = 0;
  while ((pos = xml.find('<', pos)) != std::string::npos) {
    const size_t end = xml.find('>', pos);
    if (end == std::string::npos) return *why = "unterminated tag", false;
    const std::string tag = xml.substr(pos + 1, end - pos - 1);
    pos = end + 1;
    if (tag.empty()) return *why = "empty tag", false;
    if (tag[0] == '?' || tag[0] == '!') continue;
    if (std::count(tag.begin(), tag.end(), '"') % 2 != 0) return *why = "unbalanced quotes in <" + tag + ">", false;
    const bool closing = tag[0] == '/', self_closing = tag.back() == '/';
    const std::string name = tag.substr(closing ? 1 : 0, tag.find_first_of(" /", closing ? 1 : 0) - (closing ? 1 : 0));
    if (closing) {
      if (open.empty() || open.back() != name) return *why = "mismatched </" + name + ">", false;
      open.pop_back();
    } else if (!self_closing) {
      open.push_back(name);
    }
  }
  if (!open.empty()) return *why = "unclosed <" + open.back() + ">", false;
  const std::regex bad_entity("&(?!(amp|lt|gt|quot|apos);)");
  if (std::regex_search(xml, bad_entity)) return *why = "a bare &", false;
  return true;
}

TEST(LmSvg, LossPlotIsAWellFormedSvgWithAxesLabelsAndLegend) {
  std::vector<MetricsRow> rows;
  for (int i = 1; i <= 50; ++i) {
    MetricsRow row;
    row.step = i * 10;
    row.tokens = i * 20480;
    row.train_loss = 1.5 + 2.5 * std::exp(-i / 8.0);
    if (i % 10 == 0) row.val_loss = row.train_loss + 0.05;
    rows.push_back(row);
  }
  const std::string svg = loss_svg(rows, "2-layer LSTM <test> & \"quotes\"");
  std::string why;
  EXPECT_TRUE(well_formed(svg, &why)) << why;
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_EQ(std::count(svg.begin(), svg.end(), '\n') > 10, true);
  size_t polylines = 0;
  for (size_t pos = 0; (pos = svg.find("<polyline", pos)) != std::string::npos; ++pos) ++polylines;
  EXPECT_EQ(polylines, 2u);
  EXPECT_NE(svg.find(">tokens seen<"), std::string::npos);
  EXPECT_NE(svg.find(">loss (nats per char)<"), std::string::npos);
  EXPECT_NE(svg.find(">train loss<"), std::string::npos);
  EXPECT_NE(svg.find(">validation loss<"), std::string::npos);
  EXPECT_NE(svg.find("&lt;test&gt; &amp; &quot;quotes&quot;"), std::string::npos);
  EXPECT_NE(svg.find(">1M<"), std::string::npos);  // an x tick in tokens
}

TEST(LmSvg, PointsAboveTheZoomedAxisAreMarkedAndCounted) {
  // The first rows' losses (about ln 65) sit far above the rest: the axis zooms past them, and
  // each such point is marked on the top edge instead of silently disappearing.
  std::vector<MetricsRow> rows;
  for (int i = 1; i <= 40; ++i) {
    MetricsRow row;
    row.step = i;
    row.tokens = i * 1000;
    row.train_loss = i <= 3 ? 4.2 : 1.5 + 0.01 * (40 - i);
    rows.push_back(row);
  }
  const std::string svg = loss_svg(rows, "clipped", "byte");
  std::string why;
  EXPECT_TRUE(well_formed(svg, &why)) << why;
  size_t markers = 0;
  for (size_t pos = 0; (pos = svg.find("class=\"clipped\"", pos)) != std::string::npos; ++pos) ++markers;
  EXPECT_EQ(markers, 3u);
  EXPECT_NE(svg.find("3 points above"), std::string::npos);
  EXPECT_NE(svg.find(">loss (nats per byte)<"), std::string::npos);
  // Nothing is clipped when every point fits: no marker, no note.
  rows.erase(rows.begin(), rows.begin() + 3);
  const std::string fits = loss_svg(rows, "fits");
  EXPECT_EQ(fits.find("clipped"), std::string::npos);
  EXPECT_EQ(fits.find("above"), std::string::npos);
}

TEST(LmSvg, EmptyAndNonFiniteSeriesStillGiveAValidDocument) {
  std::vector<MetricsRow> rows(3);
  rows[1].train_loss = std::nan("");
  std::string why;
  EXPECT_TRUE(well_formed(loss_svg({}, "empty"), &why)) << why;
  EXPECT_TRUE(well_formed(loss_svg(rows, "nan"), &why)) << why;
}

TEST(LmSvg, PanelsStackChartsInOneDocumentWithTheirOwnClipPaths) {
  LinePlot by_time, by_tokens;
  by_time.title = "against minutes";
  by_tokens.title = "against tokens";
  by_tokens.height = 300;
  for (LinePlot* plot : {&by_time, &by_tokens}) {
    plot->series = {{"plain", "#1f77b4", {{1, 300}, {2, 250}}, true}, {"AWD", "#d62728", {{1, 280}, {2, 200}}, true}};
  }
  const std::string svg = render_svg_panels({by_time, by_tokens});
  std::string why;
  EXPECT_TRUE(well_formed(svg, &why)) << why;
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("height=\"800\""), std::string::npos);  // 500 + 300
  EXPECT_NE(svg.find("<g transform=\"translate(0 500)\">"), std::string::npos);
  EXPECT_NE(svg.find("clip-path=\"url(#area0)\""), std::string::npos);
  EXPECT_NE(svg.find("clip-path=\"url(#area1)\""), std::string::npos);
  size_t polylines = 0, documents = 0;
  for (size_t pos = 0; (pos = svg.find("<polyline", pos)) != std::string::npos; ++pos) ++polylines;
  for (size_t pos = 0; (pos = svg.find("<svg", pos)) != std::string::npos; ++pos) ++documents;
  EXPECT_EQ(polylines, 4u);
  EXPECT_EQ(documents, 1u);
  // One chart alone is the document render_svg writes.
  EXPECT_EQ(render_svg(by_time).find("url(#area)") != std::string::npos, true);
}

TEST(LmSvg, NiceTicksCoverTheRangeWithRoundSteps) {
  const std::vector<double> ticks = nice_ticks(1.37, 4.21);
  ASSERT_GE(ticks.size(), 3u);
  EXPECT_LE(ticks.front(), 1.37);
  EXPECT_GE(ticks.back(), 4.21);
  EXPECT_DOUBLE_EQ(ticks[1] - ticks[0], 0.5);
  EXPECT_EQ(tick_label(2500000, 500000), "2.5M");
  EXPECT_EQ(tick_label(250000, 50000), "250k");
  EXPECT_EQ(tick_label(1.5, 0.5), "1.5");
  EXPECT_EQ(tick_label(0, 0.5), "0");
}

TEST(LmMetrics, CsvRoundTripKeepsLossesExactly) {
  MetricsRow row;
  row.step = 12;
  row.epoch = 1;
  row.tokens = 4096;
  row.elapsed_s = 1.25;
  row.lr = 0.003;
  row.train_loss = static_cast<float>(1.2345678f);
  row.grad_norm = 0.5;
  const std::vector<MetricsRow> back = parse_metrics_csv(metrics_csv({row, row}), "metrics.csv");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(static_cast<float>(back[0].train_loss), static_cast<float>(row.train_loss));
  EXPECT_TRUE(std::isnan(back[0].val_loss));
  EXPECT_EQ(back[1].step, 12);
  EXPECT_EQ(metrics_csv({row}).substr(0, metrics_header().size()),
            "step,epoch,tokens,elapsed_s,lr,train_loss,val_loss,tokens_per_s,grad_norm");
}

}  // namespace
}  // namespace recur::lm
