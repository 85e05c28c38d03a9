#include "report/render_csv.h"

namespace mxcensus::report {

std::string CsvField(std::string_view text, bool is_text) {
  std::string value;
  if (is_text && !text.empty() &&
      (text[0] == '=' || text[0] == '+' || text[0] == '-' || text[0] == '@' || text[0] == '\t')) {
    value = "'";
  }
  value.append(text);
  const bool quote = value.find_first_of(",\"\r\n") != std::string::npos ||
                     (!value.empty() && (value.front() == ' ' || value.back() == ' '));
  if (!quote) return value;
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string RenderCsvTable(const Table& table) {
  std::string out;
  for (size_t c = 0; c < table.columns.size(); ++c) {
    if (c > 0) out += ',';
    out += CsvField(table.columns[c].key, false);
  }
  out += "\r\n";
  for (const Row& row : table.rows) {
    for (size_t c = 0; c < table.columns.size(); ++c) {
      if (c > 0) out += ',';
      const Cell& cell = c < row.size() ? row[c] : Cell{};
      out += CsvField(FormatCellPlain(cell, table.columns[c].kind),
                      std::holds_alternative<std::string>(cell));
    }
    out += "\r\n";
  }
  return out;
}

std::string RenderCsv(const Report& report) {
  std::string out;
  for (const Table& t : report.tables) {
    if (!out.empty()) out += "\r\n";
    std::string title = t.title;
    for (char& ch : title) {
      if (ch == '\r' || ch == '\n') ch = ' ';
    }
    out += "# " + t.id + ": " + title + "\r\n" + RenderCsvTable(t);
  }
  return out;
}

}  // namespace mxcensus::report
