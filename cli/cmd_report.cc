// mxcensus report: the tables of a crawl (issue #7) from the SQL views, as text for a terminal,
// markdown, csv, json, or a self-contained HTML page with SVG charts.
#include <cstdio>

#include "cli/command.h"
#include "report/render.h"
#include "report/report_query.h"
#include "storage/db.h"

namespace mxcensus::cli {
namespace {

struct ReportFlags {
  report::ReportOptions options;
  std::string format = "text";
  std::string out;
};

int Run(const ReportFlags& f, const DbOption& db) {
  auto format = report::ParseFormat(f.format);
  if (!format.ok()) return Fail(format.status());
  if (*format == report::Format::kHtml && f.out.empty()) {
    return Fail(absl::InvalidArgumentError("--format html writes a page: give --out DIR"));
  }
  auto dsn = db.Resolve();
  if (!dsn.ok()) return Fail(dsn.status());
  auto conn = storage::Connect(*dsn);
  if (!conn.ok()) return Fail(conn.status());
  auto rep = report::BuildReport(**conn, f.options);
  if (!rep.ok()) return Fail(rep.status());
  std::string text;
  std::vector<std::string> written;
  if (auto s = report::WriteReport(*rep, *format, f.out, &text, &written); !s.ok()) {
    return Fail(s);
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  for (const std::string& path : written) std::printf("%s\n", path.c_str());
  return kExitOk;
}

}  // namespace

void RegisterReport(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand(
      "report", "Print the standard tables of a crawl, or of all crawls over time");
  auto f = std::make_shared<ReportFlags>();
  auto db = std::make_shared<DbOption>(cmd);
  cmd->add_option("--crawl", f->options.crawl,
                  "Crawl id or name (default: the latest finished crawl)");
  cmd->add_option("--compare", f->options.compare,
                  "Crawl id or name to compare with (default: the finished crawl before it)");
  cmd->add_option("--format", f->format, "text|markdown|csv|json|html")->capture_default_str();
  cmd->add_option("--out", f->out,
                  "Write files into this directory (html: index.html; csv: one file per table) "
                  "and print their paths");
  cmd->add_option("--limit", f->options.limit,
                  "Rows of the long tables (providers, networks, changes, who/why/where); 0 = all")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->callback([&state, f, db] { state.exit_code = Run(*f, *db); });
}

}  // namespace mxcensus::cli
