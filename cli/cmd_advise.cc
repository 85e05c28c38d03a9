// mxcensus advise: per-domain diagnosis, the fix for the detected MTA, notification drafts,
// and the --require-tls simulation (docs/maillog-advise.md).
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>

#include "advise/crawl_facts.h"
#include "advise/diagnose.h"
#include "advise/maillog_store.h"
#include "advise/render.h"
#include "advise/require_tls.h"
#include "cli/command.h"
#include "common/file_util.h"
#include "storage/db.h"
#include "storage/migrations.h"

namespace mxcensus::cli {
namespace {

struct AdviseFlags {
  int64_t crawl = 0;
  std::vector<std::string> domains;
  std::string format = "text";
  std::string notify_dir;
  std::string from;
  bool require_tls = false;
  std::string maillog_json;
  bool db_given = false;
};

absl::StatusOr<advise::OutputFormat> ParseOutputFormat(const std::string& f) {
  if (f == "text") return advise::OutputFormat::kText;
  if (f == "markdown") return advise::OutputFormat::kMarkdown;
  if (f == "json") return advise::OutputFormat::kJson;
  return absl::InvalidArgumentError("--format: '" + f + "' is not one of text, markdown, json");
}

absl::StatusOr<std::map<std::string, maillog::DomainStats>> ReadMaillogJson(
    const std::string& path) {
  auto text = ReadWholeFile("--maillog-json", path);
  if (!text.ok()) return text.status();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.contains("domains") || !j["domains"].is_array()) {
    return absl::InvalidArgumentError("--maillog-json: " + path +
                                      " is not the JSON of mxcensus maillog --json");
  }
  std::map<std::string, maillog::DomainStats> out;
  for (const auto& d : j["domains"]) {
    maillog::DomainStats s;
    std::string error;
    if (!d.contains("domain") || !maillog::DomainStatsFromJson(d, &s, &error)) {
      return absl::InvalidArgumentError("--maillog-json: " + path + ": " + error);
    }
    out.emplace(d["domain"].get<std::string>(), std::move(s));
  }
  return out;
}

std::string DefaultFrom() {
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  return std::string("postmaster@") + host;
}

int WriteDrafts(const std::vector<advise::DomainAdvice>& advice, const AdviseFlags& f) {
  std::error_code ec;
  std::filesystem::create_directories(f.notify_dir, ec);
  if (ec)
    return Fail(
        absl::InvalidArgumentError("--notify-draft: " + f.notify_dir + ": " + ec.message()));
  advise::DraftOptions opts{f.from.empty() ? DefaultFrom() : f.from, std::time(nullptr)};
  int n = 0;
  for (const auto& a : advice) {
    if (a.findings.empty()) continue;
    std::string path = f.notify_dir + "/" + a.domain + ".eml";
    if (auto s = WriteFileAtomically(path, advise::NotificationDraft(a, opts)); !s.ok()) {
      return Fail(s);
    }
    ++n;
  }
  std::fprintf(stderr, "advise: %d drafts written to %s (nothing was sent)\n", n,
               f.notify_dir.c_str());
  return kExitOk;
}

int Run(const AdviseFlags& f, const DbOption& db) {
  auto format = ParseOutputFormat(f.format);
  if (!format.ok()) return Fail(format.status());
  if (f.require_tls && f.maillog_json.empty() && !f.db_given) {
    return Fail(absl::InvalidArgumentError(
        "--require-tls needs the maillog observations: --maillog-json FILE or --db DSN"));
  }
  std::unique_ptr<pqxx::connection> conn;
  int64_t crawl_id = f.crawl;
  std::vector<advise::DomainFacts> facts;
  // --require-tls from a JSON file works without any database; everything else reads a crawl.
  if (!f.require_tls || f.db_given) {
    auto dsn = db.Resolve();
    if (!dsn.ok()) return Fail(dsn.status());
    auto c = storage::Connect(*dsn);
    if (!c.ok()) return Fail(c.status());
    conn = std::move(*c);
    if (auto m = storage::Migrate(*conn); !m.ok()) return Fail(m.status());
    if (crawl_id == 0) {
      auto latest = advise::LatestFinishedCrawl(*conn);
      if (!latest.ok()) return Fail(latest.status());
      crawl_id = *latest;
    }
    auto loaded = advise::LoadDomainFacts(*conn, crawl_id, f.domains);
    if (!loaded.ok()) return Fail(loaded.status());
    facts = std::move(*loaded);
  }
  if (f.require_tls) {
    auto obs = f.maillog_json.empty() ? advise::LoadLatestObservations(*conn)
                                      : ReadMaillogJson(f.maillog_json);
    if (!obs.ok()) return Fail(obs.status());
    auto r = advise::SimulateRequireTls(*obs, facts);
    std::string out = *format == advise::OutputFormat::kJson
                          ? advise::RequireTlsToJson(r).dump(
                                2, ' ', false, nlohmann::json::error_handler_t::replace) +
                                "\n"
                          : advise::RequireTlsText(r, *format == advise::OutputFormat::kMarkdown);
    std::fputs(out.c_str(), stdout);
    return kExitOk;
  }
  for (const auto& d : f.domains) {
    bool found = std::any_of(facts.begin(), facts.end(),
                             [&](const advise::DomainFacts& x) { return x.domain == d; });
    if (!found)
      std::fprintf(stderr, "advise: %s is not in crawl %lld\n", d.c_str(),
                   static_cast<long long>(crawl_id));
  }
  std::vector<advise::DomainAdvice> advice;
  for (const auto& d : facts) advice.push_back(advise::Diagnose(d));
  std::fputs(advise::RenderAdvice(advice, crawl_id, *format).c_str(), stdout);
  if (!f.notify_dir.empty()) return WriteDrafts(advice, f);
  return kExitOk;
}

}  // namespace

void RegisterAdvise(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand(
      "advise", "Per-domain diagnosis, the fix for the detected MTA, notification drafts");
  static DbOption db(cmd);
  static AdviseFlags f;
  cmd->add_option("--crawl", f.crawl, "Crawl id (default: the latest finished crawl)");
  cmd->add_option("DOMAIN", f.domains, "Domains to advise on (default: every domain of the crawl)");
  cmd->add_option("--format", f.format, "text|markdown|json")->default_val("text");
  cmd->add_option("--notify-draft", f.notify_dir,
                  "Directory for one RFC 5322 message per domain to its postmaster (not sent)");
  cmd->add_option("--from", f.from, "From: address of the drafts (default postmaster@<host>)");
  cmd->add_flag("--require-tls", f.require_tls,
                "Simulate mandatory inbound STARTTLS from maillog observations");
  cmd->add_option("--maillog-json", f.maillog_json,
                  "With --require-tls: the output of maillog --json (else the latest import in "
                  "--db)");
  cmd->callback([&state, cmd] {
    f.db_given = cmd->get_option("--db")->count() > 0 || std::getenv("MXCENSUS_DB") != nullptr;
    state.exit_code = Run(f, db);
  });
}

}  // namespace mxcensus::cli
