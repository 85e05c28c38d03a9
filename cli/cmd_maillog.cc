// mxcensus maillog: peer domains and their observed TLS from Postfix/Exim/Sendmail logs
// (docs/maillog-advise.md).
#include <cstdio>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "advise/maillog_store.h"
#include "cli/command.h"
#include "cli/input_file.h"
#include "common/file_util.h"
#include "maillog/envelope.h"
#include "maillog/maillog.h"
#include "storage/db.h"
#include "storage/migrations.h"

namespace mxcensus::cli {
namespace {

struct MaillogFlags {
  std::vector<std::string> files;
  std::string format = "auto";
  std::string since;
  std::string out;
  std::string json;
  std::string db;
  int64_t crawl = 0;
  int year = 0;
};

int CurrentYear() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  return tm.tm_year + 1900;
}

void PrintSummary(const maillog::Observations& obs) {
  const auto& l = obs.lines;
  std::fprintf(stderr,
               "maillog: %zu files, %lld lines: %lld used, %lld ignored, %lld before --since, "
               "%lld unparsed, %lld malformed; %zu peer domains\n",
               obs.files.size(), static_cast<long long>(l.total), static_cast<long long>(l.used),
               static_cast<long long>(l.ignored), static_cast<long long>(l.before_since),
               static_cast<long long>(l.unparsed), static_cast<long long>(l.malformed),
               obs.domains.size());
  for (const auto& f : obs.files) {
    std::fprintf(stderr, "  %s: %s, %lld lines\n", f.path.c_str(), f.format.c_str(),
                 static_cast<long long>(f.lines));
  }
  for (const auto& s : l.samples) std::fprintf(stderr, "  sample: %s\n", s.c_str());
}

int Run(const MaillogFlags& f) {
  maillog::ReadOptions opts;
  auto format = maillog::ParseFormat(f.format);
  if (!format.ok()) return Fail(format.status());
  opts.format = *format;
  opts.parse.year = f.year != 0 ? f.year : CurrentYear();
  if (f.year == 0) opts.parse.not_after = std::time(nullptr);
  if (!f.since.empty()) {
    auto since = maillog::ParseSince(f.since);
    if (!since.ok()) return Fail(since.status());
    opts.parse.since = *since;
  }
  auto obs = maillog::ReadLogs(f.files, opts);
  if (!obs.ok()) return Fail(obs.status());
  PrintSummary(*obs);
  if (!f.out.empty()) {
    if (auto s = WriteFileAtomically(f.out, maillog::DomainList(*obs)); !s.ok()) return Fail(s);
  }
  if (!f.json.empty()) {
    std::string text = maillog::ObservationsToJson(*obs).dump(
                           2, ' ', false, nlohmann::json::error_handler_t::replace) +
                       "\n";
    if (auto s = WriteFileAtomically(f.json, text); !s.ok()) return Fail(s);
  }
  if (!f.db.empty()) {
    auto conn = storage::Connect(f.db);
    if (!conn.ok()) return Fail(conn.status());
    if (auto m = storage::Migrate(**conn); !m.ok()) return Fail(m.status());
    auto id = advise::StoreObservations(**conn, *obs, f.crawl);
    if (!id.ok()) return Fail(id.status());
    std::fprintf(stderr, "maillog: stored as import %lld\n", static_cast<long long>(*id));
  }
  if (f.out.empty() && f.json.empty() && f.db.empty()) {
    std::fputs(maillog::DomainList(*obs).c_str(), stdout);
  }
  return kExitOk;
}

}  // namespace

void RegisterMaillog(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand(
      "maillog", "Peer domains and their observed TLS from Postfix/Exim/Sendmail logs");
  static MaillogFlags f;
  cmd->add_option("FILE", f.files, "Mail log files (plain or .gz; rotated ones read oldest first)")
      ->required()
      ->check(InputFile());
  cmd->add_option("--format", f.format, "auto|postfix|exim|sendmail")->default_val("auto");
  cmd->add_option("--since", f.since,
                  "Only lines from this date on (YYYY-MM-DD[THH:MM[:SS]], UTC)");
  cmd->add_option("--year", f.year,
                  "Year of traditional syslog timestamps, which carry none (default: this year)");
  cmd->add_option("--out", f.out, "Domain list output (for crawl start / scan)");
  cmd->add_option("--json", f.json, "Per-domain observations as JSON");
  cmd->add_option("--db", f.db, "Import the observations into this PostgreSQL database");
  cmd->add_option("--crawl", f.crawl, "With --db: the crawl these observations go with");
  cmd->callback([&state] { state.exit_code = Run(f); });
}

}  // namespace mxcensus::cli
