#pragma once

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "report/table.h"

namespace mxcensus::report {

// What to report on. Empty strings mean the defaults.
struct ReportOptions {
  std::string crawl;    // crawl id or name; "" = the latest finished crawl
  std::string compare;  // crawl id or name; "" = the finished crawl before `crawl`, if any
  int limit = 25;       // rows of the long tables (providers, networks, who/why/where); 0 = all
};

// The crawls a report covers, as chosen from ReportOptions.
struct CrawlChoice {
  int64_t crawl_id = 0;
  std::string name;
  std::string state;
  std::optional<int64_t> compare_id;
  std::string compare_name;
};

// Picks the crawl (and the one to compare with). Errors name the flag: an unknown id or name,
// no crawl at all, no finished crawl, or a database without the report views (not migrated).
absl::StatusOr<CrawlChoice> ChooseCrawls(pqxx::connection& conn, const ReportOptions& options);

// Runs every report query against the views of migration 0003 and returns the tables of
// issue #7 in order. The SQL lives here only; renderers see the Table model.
absl::StatusOr<Report> BuildReport(pqxx::connection& conn, const ReportOptions& options);

// The SQL views the report reads; all must exist (docs/sql.md).
const std::vector<std::string>& RequiredViews();

}  // namespace mxcensus::report
