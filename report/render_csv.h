#pragma once

#include <string>

#include "report/table.h"

namespace mxcensus::report {

// One RFC 4180 field: quoted when it holds a comma, a quote, CR, LF or edge spaces; quotes
// doubled. Text that a spreadsheet would run as a formula (starting with = + - @ or a tab) is
// prefixed with a single quote, so a hostile greeting cannot become a formula in Excel.
std::string CsvField(std::string_view text, bool is_text);

// The table as CSV: a header of column keys, then one line per row, CRLF line ends (RFC 4180).
// Percentages are plain numbers with one decimal (no '%').
std::string RenderCsvTable(const Table& table);
// Every table as a section on one stream: "# <id>: <title>", the table's CSV, a blank line.
std::string RenderCsv(const Report& report);

}  // namespace mxcensus::report
