#include "report/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "report/render_text.h"
#include "report/utf8.h"

namespace mxcensus::report {
namespace {

constexpr double kChartWidth = 720;
constexpr double kLabelWidth = 220;
constexpr double kBarHeight = 18;
constexpr double kBarGap = 6;
// Distinguishable colours for the line series (colour-blind safe Okabe-Ito palette).
constexpr const char* kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                    "#E69F00", "#56B4E9", "#F0E442", "#000000"};

std::string Fmt1(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", std::isfinite(v) ? v : 0.0);
  return buf;
}

std::string Text(double x, double y, const std::string& anchor, std::string_view text,
                 const std::string& extra = "") {
  return "<text x=\"" + SvgNumber(x) + "\" y=\"" + SvgNumber(y) + "\" text-anchor=\"" + anchor +
         "\"" + extra + ">" + HtmlEscape(text) + "</text>";
}

std::string SvgOpen(double height, const std::string& title) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" class=\"chart\" width=\"" +
         SvgNumber(kChartWidth) + "\" height=\"" + SvgNumber(height) + "\" viewBox=\"0 0 " +
         SvgNumber(kChartWidth) + " " + SvgNumber(height) + "\"><title>" + HtmlEscape(title) +
         "</title>";
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const size_t n = Utf8SequenceLength(text, i);
    const char c = text[i];
    if (n == 0 || (IsControl(text, i, n) && c != '\t' && c != '\n')) {
      out += "\uFFFD";  // invalid bytes and control characters
    } else if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else if (c == '"') {
      out += "&quot;";
    } else if (c == '\'') {
      out += "&#39;";
    } else {
      out.append(text.substr(i, n));
    }
    i += n == 0 ? 1 : n;
  }
  return out;
}

std::string SvgNumber(double v) {
  if (!std::isfinite(v)) v = 0;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string BarChartSvg(const std::vector<Bar>& bars, double max_value, const std::string& unit,
                        const std::string& title) {
  if (max_value <= 0 || !std::isfinite(max_value)) {
    max_value = 0;
    for (const Bar& b : bars) max_value = std::max(max_value, std::isfinite(b.value) ? b.value : 0);
  }
  const double span = kChartWidth - kLabelWidth - 70;  // room for the value after the bar
  const double height = 10 + static_cast<double>(bars.size()) * (kBarHeight + kBarGap);
  std::string svg = SvgOpen(height, title);
  double y = 6;
  for (const Bar& b : bars) {
    const double v = std::isfinite(b.value) ? std::max(0.0, b.value) : 0;
    const double w = max_value > 0 ? span * std::min(v, max_value) / max_value : 0;
    svg += Text(kLabelWidth - 8, y + kBarHeight - 5, "end", SanitizeForTerminal(b.label, 32));
    svg += "<rect class=\"bar\" x=\"" + SvgNumber(kLabelWidth) + "\" y=\"" + SvgNumber(y) +
           "\" width=\"" + SvgNumber(w) + "\" height=\"" + SvgNumber(kBarHeight) + "\"/>";
    svg += Text(kLabelWidth + w + 6, y + kBarHeight - 5, "start", Fmt1(v) + unit);
    y += kBarHeight + kBarGap;
  }
  return svg + "</svg>";
}

std::string LineChartSvg(const std::vector<std::string>& x_labels,
                         const std::vector<Series>& series, const std::string& title) {
  constexpr double kLeft = 50, kTop = 12, kPlotH = 220, kRight = 20;
  const double legend_h = 20.0 * static_cast<double>(series.size());
  const double height = kTop + kPlotH + 40 + legend_h;
  const double plot_w = kChartWidth - kLeft - kRight;
  const size_t n = x_labels.size();
  auto x_of = [&](size_t i) {
    return n <= 1 ? kLeft + plot_w / 2
                  : kLeft + plot_w * static_cast<double>(i) / static_cast<double>(n - 1);
  };
  auto y_of = [&](double v) {
    v = std::isfinite(v) ? std::clamp(v, 0.0, 100.0) : 0.0;
    return kTop + kPlotH * (1 - v / 100);
  };
  std::string svg = SvgOpen(height, title);
  for (int g = 0; g <= 100; g += 25) {
    svg += "<line class=\"grid\" x1=\"" + SvgNumber(kLeft) + "\" x2=\"" +
           SvgNumber(kLeft + plot_w) + "\" y1=\"" + SvgNumber(y_of(g)) + "\" y2=\"" +
           SvgNumber(y_of(g)) + "\"/>";
    svg += Text(kLeft - 6, y_of(g) + 4, "end", std::to_string(g) + "%");
  }
  for (size_t i = 0; i < n; ++i) {
    svg += Text(x_of(i), kTop + kPlotH + 16, "middle", SanitizeForTerminal(x_labels[i], 20));
  }
  for (size_t s = 0; s < series.size(); ++s) {
    const std::string colour = kPalette[s % std::size(kPalette)];
    std::string points;
    for (size_t i = 0; i < n && i < series[s].values.size(); ++i) {
      if (!points.empty()) points += ' ';
      points += SvgNumber(x_of(i)) + "," + SvgNumber(y_of(series[s].values[i]));
      svg += "<circle cx=\"" + SvgNumber(x_of(i)) + "\" cy=\"" +
             SvgNumber(y_of(series[s].values[i])) + "\" r=\"3\" fill=\"" + colour + "\"/>";
    }
    svg += "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" + colour + "\" points=\"" +
           points + "\"/>";
    const double ly = kTop + kPlotH + 36 + 20.0 * static_cast<double>(s);
    svg += "<rect x=\"" + SvgNumber(kLeft) + "\" y=\"" + SvgNumber(ly - 10) +
           "\" width=\"12\" height=\"12\" fill=\"" + colour + "\"/>";
    svg += Text(kLeft + 18, ly, "start", series[s].name);
  }
  return svg + "</svg>";
}

}  // namespace mxcensus::report
