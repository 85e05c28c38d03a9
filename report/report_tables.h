#pragma once

#include <string>
#include <vector>

#include "report/table.h"

namespace mxcensus::report {

// What a table's query needs besides the crawl.
enum class QueryNeeds { kCrawl, kCompare };

// One table of the report: its shape (id, titles, columns, chart) and the SQL that fills it,
// one result column per Table column, in order. The SQL holds the placeholders :crawl,
// :compare and :limit, replaced by validated integers (see report_query.cc for why).
struct TableQuery {
  Table shape;
  std::string sql;
  QueryNeeds needs = QueryNeeds::kCrawl;
};

// The tables of issue #7, in report order.
std::vector<TableQuery> ReportTableQueries();

}  // namespace mxcensus::report
