#include "examples/lm/svg_plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace recur::lm {

std::vector<double> nice_ticks(double low, double high, int target) {
  if (!(high > low)) {
    const double pad = low == 0.0 ? 1.0 : std::abs(low) * 0.1;
    low -= pad, high += pad;
  }
  const double raw = (high - low) / std::max(1, target);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (const double factor : {1.0, 2.0, 5.0, 10.0}) {
    step = factor * magnitude;
    if (step >= raw) break;
  }
  const double first = std::floor(low / step) * step;
  std::vector<double> ticks;
  for (int i = 0; i < 1000; ++i) {
    const double tick = first + i * step;
    ticks.push_back(std::abs(tick) < step * 1e-9 ? 0.0 : tick);
    if (tick >= high - step * 1e-9) break;
  }
  return ticks;
}

std::string tick_label(double value, double step) {
  if (value == 0.0) return "0";
  const double magnitude = std::abs(step);
  auto trimmed = [](double v, int decimals) {
    std::string text = fmt::format("{:.{}f}", v, decimals);
    if (text.find('.') != std::string::npos) {
      while (text.back() == '0') text.pop_back();
      if (text.back() == '.') text.pop_back();
    }
    return text;
  };
  auto decimals_for = [](double s) { return std::max(0, static_cast<int>(std::ceil(-std::log10(s) - 1e-9))); };
  if (magnitude >= 1e5) return trimmed(value / 1e6, decimals_for(magnitude / 1e6)) + "M";
  if (magnitude >= 1e2) return trimmed(value / 1e3, decimals_for(magnitude / 1e3)) + "k";
  return trimmed(value, decimals_for(magnitude));
}

std::string xml_escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

// The chart's elements, in the coordinates of a plot.width x plot.height canvas; its clip path
// is named `clip_id`, which must be unique in the document.
std::string chart_elements(const LinePlot& plot, const std::string& clip_id) {
  // The plotting area, inside margins for the labels and the legend.
  const double left = 80, right = 30, top = 50, bottom = 70;
  const double width = plot.width, height = plot.height;
  const double area_w = width - left - right, area_h = height - top - bottom;

  double x_low = std::numeric_limits<double>::infinity(), x_high = -x_low, y_low = x_low, y_high = -x_low;
  for (const PlotSeries& series : plot.series) {
    for (const auto& [x, y] : series.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x_low = std::min(x_low, x), x_high = std::max(x_high, x);
      y_low = std::min(y_low, y), y_high = std::max(y_high, y);
    }
  }
  if (!std::isfinite(x_low)) x_low = 0, x_high = 1, y_low = 0, y_high = 1;
  if (std::isfinite(plot.y_limit) && plot.y_limit > y_low) y_high = std::min(y_high, plot.y_limit);
  const std::vector<double> x_ticks = nice_ticks(x_low, x_high), y_ticks = nice_ticks(y_low, y_high);
  const double x_min = x_ticks.front(), x_max = x_ticks.back(), y_min = y_ticks.front(), y_max = y_ticks.back();
  const auto px = [&](double x) { return left + (x - x_min) / (x_max - x_min) * area_w; };
  const auto py = [&](double y) { return top + area_h - (y - y_min) / (y_max - y_min) * area_h; };

  std::string svg = fmt::format("<text x=\"{:.1f}\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">{}</text>\n",
                                left + area_w / 2, xml_escape(plot.title));

  // Grid, ticks and tick labels.
  svg += "<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n";
  for (const double x : x_ticks) {
    svg +=
        fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\"/>\n", px(x), top, top + area_h);
  }
  for (const double y : y_ticks) {
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\"/>\n", left, py(y),
                       left + area_w);
  }
  svg += "</g>\n<g fill=\"#333333\">\n";
  const double x_step = x_ticks.size() > 1 ? x_ticks[1] - x_ticks[0] : 1.0;
  const double y_step = y_ticks.size() > 1 ? y_ticks[1] - y_ticks[0] : 1.0;
  for (const double x : x_ticks) {
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", px(x), top + area_h + 20,
                       xml_escape(tick_label(x, x_step)));
  }
  for (const double y : y_ticks) {
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", left - 8, py(y) + 4,
                       xml_escape(tick_label(y, y_step)));
  }
  svg += "</g>\n";
  svg += fmt::format(
      "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" "
      "stroke=\"#333333\"/>\n",
      left, top, area_w, area_h);
  // Axis labels.
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", left + area_w / 2,
                     height - 20, xml_escape(plot.x_label));
  svg += fmt::format(
      "<text x=\"20\" y=\"{0:.1f}\" text-anchor=\"middle\" transform=\"rotate(-90 20 {0:.1f})\">{1}"
      "</text>\n",
      top + area_h / 2, xml_escape(plot.y_label));

  // The series, clipped to the plotting area.
  svg += fmt::format(
      "<clipPath id=\"{0}\"><rect x=\"{1:.1f}\" y=\"{2:.1f}\" width=\"{3:.1f}\" height=\"{4:.1f}\"/>"
      "</clipPath>\n<g clip-path=\"url(#{0})\">\n",
      clip_id, left, top, area_w, area_h);
  for (const PlotSeries& series : plot.series) {
    std::string points;
    std::string dots;
    for (const auto& [x, y] : series.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      points += fmt::format("{}{:.1f},{:.1f}", points.empty() ? "" : " ", px(x), py(y));
      if (series.markers) {
        dots += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", px(x), py(y),
                            xml_escape(series.color));
      }
    }
    if (points.empty()) continue;
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\" points=\"{}\"/>\n",
                       xml_escape(series.color), points);
    svg += dots;
  }
  svg += "</g>\n";

  // A point above the y axis (cut by y_limit) is marked by a triangle on the top edge, in its
  // series' color, so that a clipped curve never looks like a complete one.
  int64_t clipped = 0;
  for (const PlotSeries& series : plot.series) {
    for (const auto& [x, y] : series.points) {
      if (!std::isfinite(x) || !std::isfinite(y) || y <= y_max) continue;
      ++clipped;
      svg += fmt::format("<path class=\"clipped\" d=\"M{:.1f},{:.1f} l-4,7 h8 z\" fill=\"{}\"/>\n", px(x), top + 1,
                         xml_escape(series.color));
    }
  }
  if (clipped > 0) {
    svg += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\" fill=\"#555555\">▲ {} point{} above {}"
        "</text>\n",
        left + 6, top + 20, clipped, clipped == 1 ? "" : "s", xml_escape(tick_label(y_max, y_step)));
  }

  // The legend, top right inside the plotting area.
  double legend_y = top + 18;
  for (const PlotSeries& series : plot.series) {
    const double legend_x = left + area_w - 170;
    svg += fmt::format(
        "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" "
        "stroke-width=\"3\"/>\n",
        legend_x, legend_y - 4, legend_x + 24, legend_y - 4, xml_escape(series.color));
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n", legend_x + 30, legend_y, xml_escape(series.name));
    legend_y += 20;
  }
  return svg;
}

// The document's opening: the XML declaration, the <svg> element and a white background.
std::string document_start(int width, int height) {
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"13\">\n"
      "<rect x=\"0\" y=\"0\" width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n",
      width, height);
}

}  // namespace

std::string render_svg(const LinePlot& plot) {
  return document_start(plot.width, plot.height) + chart_elements(plot, "area") + "</svg>\n";
}

std::string render_svg_panels(const std::vector<LinePlot>& panels) {
  int width = 0, height = 0;
  for (const LinePlot& panel : panels) width = std::max(width, panel.width), height += panel.height;
  std::string svg = document_start(std::max(width, 1), std::max(height, 1));
  int panel_top = 0;
  for (size_t i = 0; i < panels.size(); ++i) {
    svg += fmt::format("<g transform=\"translate(0 {})\">\n", panel_top);
    svg += chart_elements(panels[i], fmt::format("area{}", i));
    svg += "</g>\n";
    panel_top += panels[i].height;
  }
  return svg + "</svg>\n";
}

}  // namespace recur::lm
