// mxcensus crawl start|status|list|cancel: talk to a coordinator.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/admin_client.h"
#include "cli/command.h"
#include "cli/crawl_upload.h"
#include "cli/input_file.h"
#include "common/domain_input.h"

namespace mxcensus::cli {
namespace {

const char* StateName(v1::CrawlState s) {
  switch (s) {
    case v1::CRAWL_PENDING:
      return "pending";
    case v1::CRAWL_RESOLVING:
      return "resolving";
    case v1::CRAWL_PROBING:
      return "probing";
    case v1::CRAWL_FINISHED:
      return "finished";
    case v1::CRAWL_CANCELLED:
      return "cancelled";
    case v1::CRAWL_FAILED:
      return "failed";
    default:
      return "unknown";
  }
}

bool Over(v1::CrawlState s) {
  return s == v1::CRAWL_FINISHED || s == v1::CRAWL_CANCELLED || s == v1::CRAWL_FAILED;
}

std::string Bar(uint64_t done, uint64_t total, int width = 24) {
  const double f = total ? static_cast<double>(done) / static_cast<double>(total) : 0.0;
  const int fill = static_cast<int>(f * width);
  return "[" + std::string(static_cast<size_t>(fill), '#') +
         std::string(static_cast<size_t>(width - fill), '.') + "]";
}

void PrintStatus(const v1::CrawlStatus& s, double rate, double eta_s) {
  printf("crawl %llu '%s': %s   workers connected: %u\n",
         static_cast<unsigned long long>(s.crawl_id()), s.name().c_str(), StateName(s.state()),
         s.workers_connected());
  printf("  resolve %s %llu / %llu domains\n", Bar(s.domains_resolved(), s.domains_total()).c_str(),
         static_cast<unsigned long long>(s.domains_resolved()),
         static_cast<unsigned long long>(s.domains_total()));
  printf("  probe   %s %llu / %llu targets", Bar(s.targets_probed(), s.targets_total()).c_str(),
         static_cast<unsigned long long>(s.targets_probed()),
         static_cast<unsigned long long>(s.targets_total()));
  if (rate > 0) printf("   %.0f/s", rate);
  if (eta_s > 0) printf("   ETA %.0fs", eta_s);
  printf("\n");
  if (s.shards_failed()) printf("  shards failed: %u\n", s.shards_failed());
  for (const auto& [outcome, n] : s.outcomes()) {
    printf("    %-18s %llu\n", outcome.c_str(), static_cast<unsigned long long>(n));
  }
}

int Start(const CoordinatorFlags& cf, const std::string& file, const std::string& name, int port) {
  std::ifstream f;
  std::istream* in = &std::cin;
  if (file != "-") {
    f.open(file);
    in = &f;
  }
  DomainListReader reader(*in, file, [](const DomainInputError& e) {
    fprintf(stderr, "mxcensus: %s:%d: skipped: %s\n", e.file.c_str(), e.line, e.reason.c_str());
  });
  v1::StartCrawlRequest header;
  header.set_name(name);
  header.set_port(static_cast<uint32_t>(port));
  auto client = ConnectAdmin(cf);
  if (!client.ok()) return Fail(client.status());
  auto ctx = client->Context(600);
  auto started = UploadCrawl(*client->stub, *ctx, header, reader, file, cf.address);
  if (!started.ok()) return Fail(started.status());
  const v1::StartCrawlResponse& resp = *started;
  fprintf(stderr, "mxcensus: crawl %llu started with %llu domains (%lld lines skipped)\n",
          static_cast<unsigned long long>(resp.crawl_id()),
          static_cast<unsigned long long>(resp.domains()),
          static_cast<long long>(reader.stats().errors));
  printf("%llu\n", static_cast<unsigned long long>(resp.crawl_id()));
  return kExitOk;
}

int Status(const CoordinatorFlags& cf, uint64_t id, bool watch) {
  auto client = ConnectAdmin(cf);
  if (!client.ok()) return Fail(client.status());
  const bool tty = isatty(STDOUT_FILENO);
  uint64_t last_done = 0;
  auto last_t = std::chrono::steady_clock::now();
  double rate = 0;
  while (true) {
    v1::CrawlStatusRequest req;
    req.set_crawl_id(id);
    v1::CrawlStatus s;
    auto ctx = client->Context();
    auto st = client->stub->GetCrawlStatus(ctx.get(), req, &s);
    if (!st.ok()) return Fail(absl::UnavailableError(DescribeRpcError(st, cf.address)));
    const auto now = std::chrono::steady_clock::now();
    const uint64_t done = s.domains_resolved() + s.targets_probed();
    const double dt = std::chrono::duration<double>(now - last_t).count();
    if (last_done && dt > 0) rate = 0.7 * rate + 0.3 * (static_cast<double>(done - last_done) / dt);
    last_done = done;
    last_t = now;
    const uint64_t left = s.domains_total() - s.domains_resolved() +
                          (s.targets_total() - std::min(s.targets_total(), s.targets_probed()));
    if (watch && tty) printf("\033[H\033[2J");
    PrintStatus(s, watch ? rate : 0, watch && rate > 0 ? static_cast<double>(left) / rate : 0);
    fflush(stdout);
    if (!watch || Over(s.state())) return s.state() == v1::CRAWL_FAILED ? kExitFailure : kExitOk;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

int List(const CoordinatorFlags& cf) {
  auto client = ConnectAdmin(cf);
  if (!client.ok()) return Fail(client.status());
  v1::ListCrawlsRequest req;
  v1::ListCrawlsResponse resp;
  auto ctx = client->Context();
  auto st = client->stub->ListCrawls(ctx.get(), req, &resp);
  if (!st.ok()) return Fail(absl::UnavailableError(DescribeRpcError(st, cf.address)));
  printf("%-6s %-24s %-10s %10s %10s %10s\n", "id", "name", "state", "domains", "targets",
         "probed");
  for (const auto& c : resp.crawls()) {
    printf("%-6llu %-24s %-10s %10llu %10llu %10llu\n",
           static_cast<unsigned long long>(c.crawl_id()), c.name().c_str(), StateName(c.state()),
           static_cast<unsigned long long>(c.domains_total()),
           static_cast<unsigned long long>(c.targets_total()),
           static_cast<unsigned long long>(c.targets_probed()));
  }
  return kExitOk;
}

int Cancel(const CoordinatorFlags& cf, uint64_t id) {
  auto client = ConnectAdmin(cf);
  if (!client.ok()) return Fail(client.status());
  v1::CancelCrawlRequest req;
  req.set_crawl_id(id);
  v1::CancelCrawlResponse resp;
  auto ctx = client->Context();
  auto st = client->stub->CancelCrawl(ctx.get(), req, &resp);
  if (!st.ok()) return Fail(absl::UnavailableError(DescribeRpcError(st, cf.address)));
  printf("crawl %llu: %s\n", static_cast<unsigned long long>(id), StateName(resp.state()));
  return kExitOk;
}

struct CrawlFlags {
  CoordinatorFlags coordinator;
  std::string domains, name;
  int port = 25;
  uint64_t id = 0;
  bool watch = false;
};

}  // namespace

void RegisterCrawl(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand("crawl", "Start, watch, list and cancel crawls on a coordinator");
  cmd->require_subcommand(1);
  auto f = std::make_shared<CrawlFlags>();
  auto* start = cmd->add_subcommand("start", "Start a crawl of a domain list; prints its id");
  start->add_option("DOMAINS", f->domains, "Domain list: one a line or rank,domain CSV; - = stdin")
      ->required()
      ->check(InputFile());
  start->add_option("--name", f->name, "Crawl name")->required();
  start->add_option("--port", f->port, "SMTP port to probe")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  auto* status = cmd->add_subcommand("status", "Progress of a crawl (default: the newest)");
  status->add_option("ID", f->id, "Crawl id");
  status->add_flag("--watch", f->watch, "Refresh every second until the crawl ends");
  auto* list = cmd->add_subcommand("list", "List crawls, newest first");
  auto* cancel = cmd->add_subcommand("cancel", "Cancel a crawl");
  cancel->add_option("ID", f->id, "Crawl id")->required();
  for (auto* sub : {start, status, list, cancel}) f->coordinator.Add(sub);
  start->callback(
      [&state, f] { state.exit_code = Start(f->coordinator, f->domains, f->name, f->port); });
  status->callback([&state, f] { state.exit_code = Status(f->coordinator, f->id, f->watch); });
  list->callback([&state, f] { state.exit_code = List(f->coordinator); });
  cancel->callback([&state, f] { state.exit_code = Cancel(f->coordinator, f->id); });
}

}  // namespace mxcensus::cli
