#pragma once

#include <string>

#include "report/table.h"

namespace mxcensus::report {

// One self-contained HTML page: inline CSS, inline SVG charts for tables with a ChartSpec, no
// script and no external reference, so it opens offline from a file. Every string from the
// data is escaped (a greeting holding "<script>" shows as text).
std::string RenderHtml(const Report& report);

// The chart of one table as inline SVG ("" for ChartKind::kNone or a table without rows).
std::string ChartSvg(const Table& table);

}  // namespace mxcensus::report
