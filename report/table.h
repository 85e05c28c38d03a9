#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace mxcensus::report {

// What a column holds; it decides alignment and formatting in every renderer.
enum class ColumnKind {
  kText,     // left-aligned, as is
  kInteger,  // right-aligned count
  kPercent,  // right-aligned share in percent (0..100), printed with one decimal
  kReal,     // right-aligned number, printed with one decimal
};

// One column: `key` is the stable machine name (json keys, csv header), `title` the heading
// people read (text, markdown, html).
struct Column {
  std::string key;
  std::string title;
  ColumnKind kind = ColumnKind::kText;
};

// A cell: SQL NULL (monostate), text, a count or a real number. Percent columns hold doubles.
using Cell = std::variant<std::monostate, std::string, int64_t, double>;
using Row = std::vector<Cell>;

// Which chart the HTML page draws for a table, from which columns.
enum class ChartKind {
  kNone,
  kBars,   // one horizontal bar per row: label_column, value_columns[0]
  kLines,  // one line per value column over the rows (x = label_column), values 0..100
};

struct ChartSpec {
  ChartKind kind = ChartKind::kNone;
  int label_column = 0;
  std::vector<int> value_columns;
  std::string unit;     // appended to value labels ("%" or "")
  std::string caption;  // what the chart shows, e.g. "domains, % of input"
};

// A titled table of rows. Renderers know nothing of where it came from (no SQL): it is the
// reusable model of `report` and `advise`.
struct Table {
  std::string id;     // stable key: csv file name, json key, html anchor
  std::string title;  // one line
  std::string note;   // optional: what the table counts, one or two sentences
  std::vector<Column> columns;
  std::vector<Row> rows;
  ChartSpec chart;

  // Appends a column and returns *this, for building tables in one expression.
  Table& Add(std::string key, std::string title_text, ColumnKind kind = ColumnKind::kText);
};

// A whole report: a heading, free key/value facts about what it covers, and its tables.
struct Report {
  std::string title;
  // What the report covers, e.g. {"crawl_id", int64_t{3}}: strings or numbers, in order.
  std::vector<std::pair<std::string, Cell>> facts;
  std::vector<Table> tables;
};

// The cell as people read it: "" for NULL, counts with no separators, percentages as "12.3%"
// (one decimal), reals with one decimal.
std::string FormatCell(const Cell& cell, ColumnKind kind);
// The cell for machines (csv): like FormatCell, but percentages without the '%' sign.
std::string FormatCellPlain(const Cell& cell, ColumnKind kind);
// The numeric value of a cell (0 for NULL and text).
double CellNumber(const Cell& cell);
// True for kInteger, kPercent and kReal columns.
bool IsNumeric(ColumnKind kind);

}  // namespace mxcensus::report
