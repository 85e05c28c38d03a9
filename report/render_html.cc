#include "report/render_html.h"

#include "report/svg.h"

namespace mxcensus::report {
namespace {

// System fonts only: the page must not fetch anything.
constexpr const char* kCss = R"css(
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: .2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; padding-bottom: .2em; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
nav ul { columns: 2; }
p.caption { color: #555; font-size: .85em; margin: .2em 0 0; }
p.note { color: #555; margin: .3em 0 .8em; }
table { border-collapse: collapse; font-size: .9em; margin: .5em 0 1em; }
th, td { padding: .25em .7em; border-bottom: 1px solid #e4e4e4; vertical-align: top; }
th { text-align: left; background: #f4f6f8; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.text { max-width: 32em; overflow-wrap: anywhere; }
p.empty { color: #777; font-style: italic; }
svg.chart { display: block; margin: .5em 0; font-size: 12px; }
svg.chart text { fill: #333; }
svg.chart rect.bar { fill: #0072B2; }
svg.chart line.grid { stroke: #ddd; stroke-width: 1; }
)css";

std::string TableHtml(const Table& t) {
  std::string out = "<table>\n<thead><tr>";
  for (const Column& c : t.columns) {
    out += std::string("<th") + (IsNumeric(c.kind) ? " class=\"num\"" : "") + " title=\"" +
           HtmlEscape(c.key) + "\">" + HtmlEscape(c.title) + "</th>";
  }
  out += "</tr></thead>\n<tbody>\n";
  for (const Row& row : t.rows) {
    out += "<tr>";
    for (size_t c = 0; c < t.columns.size(); ++c) {
      const Cell& cell = c < row.size() ? row[c] : Cell{};
      out += std::string("<td class=\"") + (IsNumeric(t.columns[c].kind) ? "num" : "text") + "\">" +
             HtmlEscape(FormatCell(cell, t.columns[c].kind)) + "</td>";
    }
    out += "</tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

}  // namespace

std::string ChartSvg(const Table& t) {
  const ChartSpec& spec = t.chart;
  if (spec.kind == ChartKind::kNone || t.rows.empty() || spec.value_columns.empty()) return "";
  auto cell = [&](const Row& r, int c) -> Cell {
    return c >= 0 && static_cast<size_t>(c) < r.size() ? r[static_cast<size_t>(c)] : Cell{};
  };
  auto label = [&](const Row& r) {
    const auto lc = static_cast<size_t>(spec.label_column);
    return FormatCell(cell(r, spec.label_column),
                      lc < t.columns.size() ? t.columns[lc].kind : ColumnKind::kText);
  };
  if (spec.kind == ChartKind::kBars) {
    std::vector<Bar> bars;
    for (const Row& r : t.rows)
      bars.push_back({label(r), CellNumber(cell(r, spec.value_columns[0]))});
    return BarChartSvg(bars, spec.unit == "%" ? 100 : 0, spec.unit, t.title);
  }
  std::vector<std::string> xs;
  for (const Row& r : t.rows) xs.push_back(label(r));
  std::vector<Series> series;
  for (int vc : spec.value_columns) {
    Series s;
    const auto c = static_cast<size_t>(vc);
    s.name = c < t.columns.size() ? t.columns[c].title : "";
    for (const Row& r : t.rows) s.values.push_back(CellNumber(cell(r, vc)));
    series.push_back(std::move(s));
  }
  return LineChartSvg(xs, series, t.title);
}

std::string RenderHtml(const Report& report) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      // Belt and braces: even a page edited by hand may not load anything from anywhere.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'; img-src data:\">\n<title>" +
      HtmlEscape(report.title) + "</title>\n<style>" + kCss + "</style>\n</head>\n<body>\n<h1>" +
      HtmlEscape(report.title) + "</h1>\n<dl class=\"facts\">\n";
  for (const auto& [key, value] : report.facts) {
    out += "<dt>" + HtmlEscape(key) + "</dt><dd>" +
           HtmlEscape(FormatCell(value, ColumnKind::kText)) + "</dd>\n";
  }
  out += "</dl>\n<nav><ul>\n";
  for (const Table& t : report.tables) {
    out += "<li><a href=\"#" + HtmlEscape(t.id) + "\">" + HtmlEscape(t.title) + "</a></li>\n";
  }
  out += "</ul></nav>\n";
  for (const Table& t : report.tables) {
    out += "<section id=\"" + HtmlEscape(t.id) + "\">\n<h2>" + HtmlEscape(t.title) + "</h2>\n";
    if (!t.note.empty()) out += "<p class=\"note\">" + HtmlEscape(t.note) + "</p>\n";
    if (const std::string svg = ChartSvg(t); !svg.empty()) {
      if (!t.chart.caption.empty()) {
        out += "<p class=\"caption\">Chart: " + HtmlEscape(t.chart.caption) + "</p>\n";
      }
      out += svg;
    }
    out += t.rows.empty() ? "<p class=\"empty\">(no rows)</p>\n" : TableHtml(t);
    out += "</section>\n";
  }
  return out + "</body>\n</html>\n";
}

}  // namespace mxcensus::report
