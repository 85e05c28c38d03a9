#include "report/render_json.h"

#include <cmath>

namespace mxcensus::report {
namespace {

const char* KindName(ColumnKind kind) {
  switch (kind) {
    case ColumnKind::kText:
      return "text";
    case ColumnKind::kInteger:
      return "integer";
    case ColumnKind::kPercent:
      return "percent";
    case ColumnKind::kReal:
      return "real";
  }
  return "text";
}

nlohmann::ordered_json CellToJson(const Cell& cell) {
  if (const auto* s = std::get_if<std::string>(&cell)) return *s;
  if (const auto* i = std::get_if<int64_t>(&cell)) return *i;
  if (const auto* d = std::get_if<double>(&cell)) {
    if (std::isfinite(*d)) return *d;
  }
  return nullptr;
}

}  // namespace

nlohmann::ordered_json TableToJson(const Table& table) {
  nlohmann::ordered_json j;
  j["id"] = table.id;
  j["title"] = table.title;
  j["note"] = table.note;
  auto& cols = j["columns"] = nlohmann::ordered_json::array();
  for (const Column& c : table.columns) {
    cols.push_back({{"key", c.key}, {"title", c.title}, {"type", KindName(c.kind)}});
  }
  auto& rows = j["rows"] = nlohmann::ordered_json::array();
  for (const Row& row : table.rows) {
    nlohmann::ordered_json r = nlohmann::ordered_json::object();
    for (size_t c = 0; c < table.columns.size(); ++c) {
      r[table.columns[c].key] = c < row.size() ? CellToJson(row[c]) : nullptr;
    }
    rows.push_back(std::move(r));
  }
  return j;
}

nlohmann::ordered_json ReportToJson(const Report& report) {
  nlohmann::ordered_json j;
  j["title"] = report.title;
  auto& facts = j["facts"] = nlohmann::ordered_json::object();
  for (const auto& [k, v] : report.facts) facts[k] = CellToJson(v);
  auto& tables = j["tables"] = nlohmann::ordered_json::object();
  for (const Table& t : report.tables) tables[t.id] = TableToJson(t);
  return j;
}

std::string RenderJson(const Report& report) {
  return ReportToJson(report).dump(2, ' ', false,
                                   nlohmann::ordered_json::error_handler_t::replace) +
         "\n";
}

}  // namespace mxcensus::report
