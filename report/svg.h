#pragma once

#include <string>
#include <vector>

namespace mxcensus::report {

// Text safe inside HTML and SVG (element content and quoted attributes): & < > " ' escaped,
// control characters and invalid UTF-8 replaced with U+FFFD.
std::string HtmlEscape(std::string_view text);

// A number for an SVG attribute: fixed, two decimals, '.' as separator, never NaN or inf (0).
std::string SvgNumber(double v);

struct Bar {
  std::string label;
  double value = 0;
};

// Horizontal bars, one per entry, longest = `max_value` (<= 0: the largest value). Each bar is
// a <rect> with the value printed after it (with `unit` appended).
std::string BarChartSvg(const std::vector<Bar>& bars, double max_value, const std::string& unit,
                        const std::string& title);

struct Series {
  std::string name;
  std::vector<double> values;  // one per x label; 0..100
};

// Lines over the x labels (e.g. one point per crawl) on a fixed 0..100 y axis with grid lines
// every 25 and a legend.
std::string LineChartSvg(const std::vector<std::string>& x_labels,
                         const std::vector<Series>& series, const std::string& title);

}  // namespace mxcensus::report
