#include "report/table.h"

#include <cmath>
#include <cstdio>

namespace mxcensus::report {
namespace {

std::string OneDecimal(double v) {
  if (!std::isfinite(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  // "-0.0" reads like a sign error in a table of shares.
  if (std::string_view(buf) == "-0.0") return "0.0";
  return buf;
}

}  // namespace

Table& Table::Add(std::string key, std::string title_text, ColumnKind kind) {
  columns.push_back(Column{std::move(key), std::move(title_text), kind});
  return *this;
}

bool IsNumeric(ColumnKind kind) { return kind != ColumnKind::kText; }

double CellNumber(const Cell& cell) {
  if (const auto* i = std::get_if<int64_t>(&cell)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&cell)) return std::isfinite(*d) ? *d : 0.0;
  return 0.0;
}

std::string FormatCellPlain(const Cell& cell, ColumnKind kind) {
  if (std::holds_alternative<std::monostate>(cell)) return "";
  if (const auto* s = std::get_if<std::string>(&cell)) return *s;
  if (const auto* i = std::get_if<int64_t>(&cell)) {
    if (kind == ColumnKind::kPercent || kind == ColumnKind::kReal) {
      return OneDecimal(static_cast<double>(*i));
    }
    return std::to_string(*i);
  }
  const double d = std::get<double>(cell);
  if (kind == ColumnKind::kInteger && std::isfinite(d)) {
    return std::to_string(static_cast<int64_t>(std::llround(d)));
  }
  return OneDecimal(d);
}

std::string FormatCell(const Cell& cell, ColumnKind kind) {
  std::string s = FormatCellPlain(cell, kind);
  if (kind == ColumnKind::kPercent && !s.empty() && !std::holds_alternative<std::string>(cell)) {
    s += '%';
  }
  return s;
}

}  // namespace mxcensus::report
