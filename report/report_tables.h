#pragma once

#include <optional>
#include <string>
#include <vector>

#include "report/table.h"

namespace mxcensus::report {

// What a table's query needs besides the crawl.
enum class QueryNeeds { kCrawl, kCompare };

// One table of the report: its shape (id, titles, columns, chart) and the SQL that fills it,
// one result column per Table column, in order. The SQL holds the placeholders :crawl,
// :compare and :limit, replaced by validated integers (see report_query.cc for why).
//
// With `also`, one query fills two tables that share an expensive part (the changes between
// two crawls are computed once): its first column says which table a row is for (0: shape,
// 1: also), the other columns are that table's, in order, as text, padded with NULLs.
struct TableQuery {
  Table shape;
  std::string sql;
  QueryNeeds needs = QueryNeeds::kCrawl;
  std::optional<Table> also;
};

// The tables of issue #7, in report order.
std::vector<TableQuery> ReportTableQueries();

}  // namespace mxcensus::report
