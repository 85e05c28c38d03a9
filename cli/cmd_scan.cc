// mxcensus scan: the all-in-one crawl. A coordinator and a worker in one process, talking over
// loopback gRPC exactly as separate processes would, results in PostgreSQL (the embedded
// cluster unless --db), the crawl's headline numbers on stdout at the end.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

#include "cli/command.h"
#include "cli/crawl_upload.h"
#include "cli/engine_flags.h"
#include "cli/input_file.h"
#include "cli/signals.h"
#include "common/domain_input.h"
#include "coordinator/server.h"
#include "storage/crawl_store.h"
#include "storage/db.h"
#include "storage/migrations.h"
#include "worker/metrics.h"
#include "worker/rpc/session_client.h"

namespace mxcensus::cli {
namespace {

struct ScanFlags {
  std::string domains;
  std::string name;
  std::string psl_extra;
  int port = 25;
  EngineFlags engine;
  bool quiet = false;
  std::string metrics;  // HOST:PORT: coordinator and worker metrics on one endpoint
};

double Pct(int64_t part, int64_t whole) {
  return whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

void PrintHeadline(int64_t id, const storage::CrawlHeadline& h) {
  printf("crawl %lld: %lld domains, %lld unique MX targets\n", static_cast<long long>(id),
         static_cast<long long>(h.domains), static_cast<long long>(h.targets));
  printf("  domains with MX (or implicit MX) that resolves  %8lld  %5.1f%%\n",
         static_cast<long long>(h.domains_with_mx), Pct(h.domains_with_mx, h.domains));
  printf("  ... every MX offers STARTTLS and completes TLS %8lld  %5.1f%% of domains with MX\n",
         static_cast<long long>(h.domains_all_starttls),
         Pct(h.domains_all_starttls, h.domains_with_mx));
  printf("  ... and valid chains matching the MX name      %8lld  %5.1f%% of domains with MX\n",
         static_cast<long long>(h.domains_all_valid), Pct(h.domains_all_valid, h.domains_with_mx));
  printf("  DNS status of the domains:\n");
  for (const auto& [status, n] : h.dns_statuses) {
    printf("    %-18s %8lld  %5.1f%%\n", status.c_str(), static_cast<long long>(n),
           Pct(n, h.domains));
  }
  printf("  outcomes of the MX targets (failure classes first by size):\n");
  int64_t probed = 0;
  for (const auto& [o, n] : h.outcomes) probed += n;
  for (const auto& [o, n] : h.outcomes) {
    printf("    %-18s %8lld  %5.1f%%\n", o.c_str(), static_cast<long long>(n), Pct(n, probed));
  }
}

int Run(const ScanFlags& f, const DbOption& db) {
  auto node_opts = f.engine.Build();
  if (!node_opts.ok()) return Fail(node_opts.status());
  if (auto s = ApplyPublicSuffixFlag(f.psl_extra); !s.ok()) return Fail(s);
  // The list is streamed to the in-process coordinator as `crawl start` streams it to a remote
  // one: memory does not grow with its length.
  std::ifstream file;
  std::istream* in = &std::cin;
  if (f.domains != "-") {
    file.open(f.domains);
    in = &file;
  }
  DomainListReader reader(*in, f.domains, [](const DomainInputError& e) {
    fprintf(stderr, "mxcensus: %s:%d: skipped: %s\n", e.file.c_str(), e.line, e.reason.c_str());
  });
  auto dsn = db.Resolve();
  if (!dsn.ok()) return Fail(dsn.status());
  {
    auto conn = storage::Connect(*dsn);
    if (!conn.ok()) return Fail(conn.status());
    if (auto m = storage::Migrate(**conn); !m.ok()) return Fail(m.status());
  }
  sigset_t signals = BlockTerminationSignals();
  // The in-process coordinator listens on loopback only, behind a random token.
  std::random_device rd;
  const std::string token = std::to_string(rd()) + std::to_string(rd()) + std::to_string(rd());
  coordinator::CoordinatorOptions core;
  core.dsn = *dsn;
  core.token = token;
  coordinator::ServerOptions server_opts;
  server_opts.listen = "127.0.0.1:0";
  server_opts.metrics = f.metrics;
  server_opts.registry = std::make_shared<prometheus::Registry>();
  worker::WorkerMetrics worker_metrics(server_opts.registry);
  auto server = coordinator::CoordinatorServer::Start(core, server_opts);
  if (!server.ok()) return Fail(server.status());

  storage::CrawlStore store(*dsn);
  const std::string address = "127.0.0.1:" + std::to_string((*server)->port());
  int64_t crawl_id = 0;
  {
    v1::StartCrawlRequest header;
    header.set_name(f.name.empty() ? "scan " + f.domains : f.name);
    header.set_port(static_cast<uint32_t>(f.port));
    auto stub =
        v1::Coordinator::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + token);
    auto started = UploadCrawl(*stub, ctx, header, reader, f.domains, address);
    if (!started.ok()) return Fail(started.status());
    crawl_id = static_cast<int64_t>(started->crawl_id());
    fprintf(stderr, "mxcensus: crawl %lld: %llu domains, %d worker threads\n",
            static_cast<long long>(crawl_id), static_cast<unsigned long long>(started->domains()),
            node_opts->threads);
  }
  worker::SessionClientOptions so;
  so.coordinator = address;
  so.token = token;
  so.worker_id = "scan-" + std::to_string(getpid());
  so.threads = static_cast<uint32_t>(node_opts->threads);
  so.max_inflight = static_cast<uint32_t>(node_opts->probe.concurrency);
  so.capacity_shards = worker::WorkerNode::CapacityShards(*node_opts);
  so.metrics = &worker_metrics;
  node_opts->metrics = &worker_metrics;
  auto client = worker::SessionClient::Create(so);
  if (!client.ok()) return Fail(client.status());
  auto node = worker::WorkerNode::Create(*node_opts, client->get());
  if (!node.ok()) return Fail(node.status());
  (*client)->Start(node->get());

  // Progress until the crawl is over, or a signal (which cancels the crawl).
  std::atomic<bool> interrupted{false};
  std::thread sig_thread([&] {
    if (WaitForSignal(signals) != 0) interrupted = true;
  });
  const bool tty = isatty(STDERR_FILENO);
  std::string state;
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto info = store.GetCrawlProgress(crawl_id);
    if (!info.ok()) {
      fprintf(stderr, "\nmxcensus: status: %s\n", std::string(info.status().message()).c_str());
      if (interrupted) {
        // Asked to stop and the database cannot say how far the crawl got (nor record its
        // cancellation): stop anyway rather than wait for a server that may never return.
        fprintf(stderr, "mxcensus: crawl %lld left as it is in the database\n",
                static_cast<long long>(crawl_id));
        state = "interrupted";
        break;
      }
      continue;
    }
    state = info->state;
    if (!f.quiet) {
      fprintf(stderr, "%s%-9s resolved %lld/%lld domains, probed %lld/%lld targets%s",
              tty ? "\r" : "", state.c_str(), static_cast<long long>(info->domains_resolved),
              static_cast<long long>(info->domains_total),
              static_cast<long long>(info->targets_probed),
              static_cast<long long>(info->targets_total), tty ? "   " : "\n");
    }
    if (state == "finished" || state == "cancelled" || state == "failed") break;
    if (interrupted) {
      // The loop itself tries again every half second; a call must not wait a retry budget.
      store.StopRetrying();
      (void)store.CancelCrawl(crawl_id);
    }
  }
  if (!f.quiet && tty) fprintf(stderr, "\n");
  (*client)->Drain(std::chrono::seconds(30));
  (*node)->Stop();
  (*server)->Shutdown(std::chrono::milliseconds(500));
  pthread_kill(sig_thread.native_handle(), SIGTERM);
  sig_thread.join();
  auto headline = store.Headline(crawl_id);
  if (!headline.ok()) return Fail(headline.status());
  PrintHeadline(crawl_id, *headline);
  return state == "finished" ? kExitOk : kExitFailure;
}

}  // namespace

void RegisterScan(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand(
      "scan", "All-in-one crawl: coordinator and workers in one process, results in PostgreSQL");
  auto f = std::make_shared<ScanFlags>();
  auto db = std::make_shared<DbOption>(cmd);
  cmd->add_option("DOMAINS", f->domains, "Domain list: one a line or rank,domain CSV; - = stdin")
      ->required()
      ->check(InputFile());
  cmd->add_option("--name", f->name, "Crawl name (default: 'scan <file>')");
  AddPublicSuffixFlag(cmd, &f->psl_extra);
  cmd->add_option("--port", f->port, "SMTP port to probe")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  f->engine.Add(cmd);
  cmd->add_option_group("workers")->add_option("--workers", f->engine.probe.threads,
                                               "Worker loop threads (alias of --threads)");
  cmd->add_flag("--quiet", f->quiet, "No progress lines");
  cmd->add_option("--metrics", f->metrics,
                  "Prometheus /metrics address HOST:PORT (coordinator and worker together)");
  cmd->callback([&state, f, db] { state.exit_code = Run(*f, *db); });
}

}  // namespace mxcensus::cli
