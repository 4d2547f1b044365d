// A small SVG line chart: series of (x, y) points as polylines, axes with "nice" ticks (1, 2, 5
// times a power of ten) and labels, a title and a legend. Enough to draw a loss curve without any
// plotting tool; the output is a standalone SVG 1.1 document.
#pragma once

#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace recur::lm {

struct PlotSeries {
  std::string name;                               // the legend entry
  std::string color;                              // any SVG color: "#1f77b4"
  std::vector<std::pair<double, double>> points;  // (x, y); non-finite points are skipped
  bool markers = false;                           // draw a dot at every point
};

struct LinePlot {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<PlotSeries> series;
  int width = 800, height = 500;
  // The y axis stops at this value when the points go higher (the lines are clipped there, and
  // each point above is marked by a triangle on the top edge, with a count "N points above Y");
  // NaN: no limit. A loss curve uses it to zoom past the first steps' high losses.
  double y_limit = std::numeric_limits<double>::quiet_NaN();
};

// Tick positions covering [low, high] with about `target` intervals of 1, 2 or 5 times a power
// of ten; the first tick is <= low and the last >= high.
std::vector<double> nice_ticks(double low, double high, int target = 6);
// A tick label: "0", "1.5", "250k", "2.5M", "0.001".
std::string tick_label(double value, double step);
// Escapes &, <, >, " and ' for SVG text and attributes.
std::string xml_escape(const std::string& text);

// The whole SVG document. Series without finite points are left out of the chart but kept in
// the legend; with no points at all the axes span [0, 1].
std::string render_svg(const LinePlot& plot);
// Several charts in one document, one below the other (the width of the widest).
std::string render_svg_panels(const std::vector<LinePlot>& panels);

}  // namespace recur::lm
