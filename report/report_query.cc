#include "report/report_query.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "common/result_json.h"
#include "report/report_tables.h"
#include "storage/db.h"

namespace mxcensus::report {
namespace {

// A flag's value is a crawl id when it is all digits, otherwise a crawl name.
bool IsId(const std::string& s) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

struct CrawlRow {
  int64_t id = 0;
  std::string name;
  std::string state;
};

CrawlRow ReadCrawl(const pqxx::row& r) {
  return {r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<std::string>()};
}

// The crawl named by a flag's value (newest of that name), or an error naming the flag.
absl::StatusOr<CrawlRow> FindCrawl(pqxx::transaction_base& tx, const std::string& flag,
                                   const std::string& value) {
  const pqxx::result r =
      IsId(value)
          ? tx.exec_params("SELECT crawl_id, name, state::text FROM crawl WHERE crawl_id = $1",
                           std::stoll(value))
          : tx.exec_params(
                "SELECT crawl_id, name, state::text FROM crawl WHERE name = $1 "
                "ORDER BY crawl_id DESC LIMIT 1",
                value);
  if (r.empty()) {
    return absl::NotFoundError(flag + " " + value + ": no crawl with that " +
                               (IsId(value) ? "id" : "name") +
                               " (`mxcensus crawl list` shows the crawls)");
  }
  return ReadCrawl(r[0]);
}

absl::Status CheckViews(pqxx::transaction_base& tx) {
  std::vector<std::string> needed = {"crawl"};
  needed.insert(needed.end(), RequiredViews().begin(), RequiredViews().end());
  for (const std::string& name : needed) {
    if (tx.exec_params("SELECT to_regclass($1) IS NULL", name)[0][0].as<bool>()) {
      return absl::FailedPreconditionError(
          "the database has no report views (" + name +
          " is missing): it is not migrated; run `mxcensus db migrate` (with the same --db)");
    }
  }
  if (tx.exec_params("SELECT to_regprocedure('mxcensus_changes(bigint,bigint)') IS NULL")[0][0]
          .as<bool>()) {
    return absl::FailedPreconditionError(
        "the database lacks mxcensus_changes(): run `mxcensus db migrate` (with the same --db)");
  }
  return absl::OkStatus();
}

absl::StatusOr<CrawlChoice> Choose(pqxx::transaction_base& tx, const ReportOptions& o) {
  if (auto s = CheckViews(tx); !s.ok()) return s;
  CrawlRow crawl;
  if (!o.crawl.empty()) {
    auto c = FindCrawl(tx, "--crawl", o.crawl);
    if (!c.ok()) return c.status();
    crawl = *c;
  } else {
    const auto r = tx.exec(
        "SELECT crawl_id, name, state::text FROM crawl WHERE state = 'finished' "
        "ORDER BY crawl_id DESC LIMIT 1");
    if (r.empty()) {
      const auto any = tx.exec("SELECT crawl_id, state::text FROM crawl ORDER BY crawl_id DESC");
      if (any.empty()) {
        return absl::NotFoundError(
            "no crawl in the database yet: run `mxcensus scan` or `mxcensus crawl start` first");
      }
      return absl::NotFoundError("no finished crawl yet (the latest, crawl " +
                                 any[0][0].as<std::string>() + ", is " +
                                 any[0][1].as<std::string>() + "): give --crawl " +
                                 any[0][0].as<std::string>() + " to report on it as it is");
    }
    crawl = ReadCrawl(r[0]);
  }
  CrawlChoice choice;
  choice.crawl_id = crawl.id;
  choice.name = crawl.name;
  choice.state = crawl.state;
  if (!o.compare.empty()) {
    auto c = FindCrawl(tx, "--compare", o.compare);
    if (!c.ok()) return c.status();
    if (c->id == crawl.id) {
      return absl::InvalidArgumentError("--compare " + o.compare + ": that is the crawl itself");
    }
    choice.compare_id = c->id;
    choice.compare_name = c->name;
  } else {
    const auto r = tx.exec_params(
        "SELECT crawl_id, name, state::text FROM crawl WHERE state = 'finished' "
        "AND crawl_id < $1 ORDER BY crawl_id DESC LIMIT 1",
        crawl.id);
    if (!r.empty()) {
      choice.compare_id = r[0][0].as<int64_t>();
      choice.compare_name = r[0][1].as<std::string>();
    }
  }
  return choice;
}

// Replaces every `name` in `sql` with `value`. Only integers we formatted ourselves are ever
// substituted: PostgreSQL refuses a parameter it cannot type, and not every query uses all of
// :crawl, :compare and :limit, so the values cannot all be passed as $n parameters.
void Substitute(std::string* sql, const std::string& name, const std::string& value) {
  for (size_t at = sql->find(name); at != std::string::npos; at = sql->find(name, at)) {
    sql->replace(at, name.size(), value);
    at += value.size();
  }
}

Cell ReadCell(const pqxx::field& f, ColumnKind kind) {
  if (f.is_null()) return Cell{};
  switch (kind) {
    case ColumnKind::kText:
      return std::string(f.c_str(), f.size());
    case ColumnKind::kInteger:
      return static_cast<int64_t>(f.as<long long>());
    case ColumnKind::kPercent:
    case ColumnKind::kReal:
      return f.as<double>();
  }
  return Cell{};
}

// Fills `out` (and, for a query with `also`, `also_out`) from the query's rows.
absl::Status FillTable(pqxx::transaction_base& tx, const TableQuery& q, const CrawlChoice& choice,
                       int limit, Table* out, Table* also_out) {
  *out = q.shape;
  if (q.also) *also_out = *q.also;
  if (q.needs == QueryNeeds::kCompare && !choice.compare_id) {
    const std::string note = " No earlier finished crawl to compare with (give --compare).";
    out->note += note;
    if (q.also) also_out->note += note;
    return absl::OkStatus();
  }
  std::string sql = q.sql;
  Substitute(&sql, ":crawl", std::to_string(choice.crawl_id));
  Substitute(&sql, ":compare", std::to_string(choice.compare_id.value_or(0)));
  Substitute(&sql, ":limit", limit > 0 ? std::to_string(limit) : "ALL");
  const pqxx::result r = tx.exec(sql);
  // A shared query adds its `part` column first, then the wider table's columns.
  const int skip = q.also ? 1 : 0;
  const size_t width = std::max(out->columns.size(), q.also ? q.also->columns.size() : 0);
  if (r.columns() != static_cast<pqxx::row::size_type>(width + skip)) {
    return absl::InternalError("report table " + out->id + ": the query returned " +
                               std::to_string(r.columns()) + " columns, the table has " +
                               std::to_string(width + skip));
  }
  for (const auto& row : r) {
    Table* t = q.also && row[0].as<int>() == 1 ? also_out : out;
    Row cells;
    for (size_t c = 0; c < t->columns.size(); ++c) {
      cells.push_back(ReadCell(row[static_cast<int>(c) + skip], t->columns[c].kind));
    }
    t->rows.push_back(std::move(cells));
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<std::string>& RequiredViews() {
  static const auto* views = new std::vector<std::string>{"v_funnel",
                                                          "v_cert_verdicts",
                                                          "v_tls_negotiated",
                                                          "v_tls_summary",
                                                          "v_dh_sizes",
                                                          "v_ecdhe_groups",
                                                          "v_starttls_failures",
                                                          "v_tampering",
                                                          "v_providers",
                                                          "v_mta_software",
                                                          "v_policy",
                                                          "v_crawl_series",
                                                          "v_no_starttls",
                                                          "mxcensus_funnel_step",
                                                          "mxcensus_cert_verdict",
                                                          "mxcensus_dh_bucket",
                                                          "mxcensus_failure_class",
                                                          "mxcensus_unit"};
  return *views;
}

absl::StatusOr<CrawlChoice> ChooseCrawls(pqxx::connection& conn, const ReportOptions& options) {
  return storage::WithSqlErrors("report", [&]() -> absl::StatusOr<CrawlChoice> {
    pqxx::read_transaction tx(conn);
    return Choose(tx, options);
  });
}

absl::StatusOr<Report> BuildReport(pqxx::connection& conn, const ReportOptions& options) {
  return storage::WithSqlErrors("report", [&]() -> absl::StatusOr<Report> {
    // One snapshot for every table, so that a crawl still being ingested adds up.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
    auto choice = Choose(tx, options);
    if (!choice.ok()) return choice.status();
    Report report;
    report.title =
        "mxcensus report: crawl " + std::to_string(choice->crawl_id) + " (" + choice->name + ")";
    report.facts = {{"crawl_id", choice->crawl_id},
                    {"crawl_name", choice->name},
                    {"crawl_state", choice->state}};
    if (choice->compare_id) {
      report.facts.push_back({"compare_crawl_id", *choice->compare_id});
      report.facts.push_back({"compare_crawl_name", choice->compare_name});
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::system_clock::now().time_since_epoch());
    report.facts.push_back({"generated_at", FormatTimeS(now.count())});
    for (const TableQuery& q : ReportTableQueries()) {
      Table t, also;
      if (auto s = FillTable(tx, q, *choice, options.limit, &t, &also); !s.ok()) return s;
      report.tables.push_back(std::move(t));
      if (q.also) report.tables.push_back(std::move(also));
    }
    return report;
  });
}

}  // namespace mxcensus::report
