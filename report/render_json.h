#pragma once

#include <string>

#include "nlohmann/json.hpp"
#include "report/table.h"

namespace mxcensus::report {

// The table as JSON: {"id", "title", "note", "columns": [{"key", "title", "type"}],
// "rows": [{<column key>: value}]}. NULL cells are null, counts integers, percentages and reals
// numbers; type is "text" | "integer" | "percent" | "real".
nlohmann::ordered_json TableToJson(const Table& table);
// {"title", "facts": {key: value}, "tables": {<id>: table}}, tables in report order.
nlohmann::ordered_json ReportToJson(const Report& report);
// Pretty-printed (2 spaces), invalid UTF-8 from the data replaced with U+FFFD (never a throw).
std::string RenderJson(const Report& report);

}  // namespace mxcensus::report
