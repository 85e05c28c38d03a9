// mxcensus worker: takes shards from a coordinator, resolves and probes them, streams results.
#include <prometheus/exposer.h>
#include <unistd.h>

#include <cstdio>
#include <random>

#include "cli/admin_client.h"
#include "cli/command.h"
#include "cli/engine_flags.h"
#include "cli/signals.h"
#include "worker/metrics.h"
#include "worker/rpc/session_client.h"

namespace mxcensus::cli {
namespace {

struct WorkerFlags {
  CoordinatorFlags coordinator;
  EngineFlags engine;
  std::string metrics;
  std::string id;
  int drain_timeout_s = 120;
};

std::string DefaultWorkerId() {
  char host[256] = "worker";
  gethostname(host, sizeof host - 1);
  std::random_device rd;
  char suffix[16];
  snprintf(suffix, sizeof suffix, "%08x", rd());
  return std::string(host) + "-" + std::to_string(getpid()) + "-" + suffix;
}

int Run(const WorkerFlags& f) {
  auto node_opts = f.engine.Build();
  if (!node_opts.ok()) return Fail(node_opts.status());
  auto token = ReadTokenFile(f.coordinator.token_file);
  if (!token.ok()) return Fail(token.status());
  sigset_t signals = BlockTerminationSignals();
  auto metrics = std::make_shared<worker::WorkerMetrics>(std::make_shared<prometheus::Registry>());
  std::unique_ptr<prometheus::Exposer> exposer;
  if (!f.metrics.empty()) {
    try {
      exposer = std::make_unique<prometheus::Exposer>(f.metrics, 2);
    } catch (const std::exception& e) {
      return Fail(absl::UnavailableError("--metrics " + f.metrics + ": " + e.what()));
    }
    exposer->RegisterCollectable(metrics->registry);
  }
  worker::SessionClientOptions so;
  so.coordinator = f.coordinator.address;
  so.token = *token;
  so.tls_ca = f.coordinator.tls_ca;
  so.tls_cert = f.coordinator.tls_cert;
  so.tls_key = f.coordinator.tls_key;
  so.tls_server_name = f.coordinator.tls_server_name;
  so.worker_id = f.id.empty() ? DefaultWorkerId() : f.id;
  so.max_inflight = static_cast<uint32_t>(node_opts->probe.concurrency);
  so.threads = static_cast<uint32_t>(node_opts->threads);
  so.capacity_shards = worker::WorkerNode::CapacityShards(*node_opts);
  so.metrics = metrics.get();
  auto client = worker::SessionClient::Create(so);
  if (!client.ok()) return Fail(client.status());
  node_opts->metrics = metrics.get();
  auto node = worker::WorkerNode::Create(*node_opts, client->get());
  if (!node.ok()) return Fail(node.status());
  (*client)->Start(node->get());
  fprintf(stderr, "worker %s: connected to %s with %d threads, %zu probes in flight at most\n",
          so.worker_id.c_str(), so.coordinator.c_str(), node_opts->threads,
          node_opts->probe.concurrency);
  int sig = WaitForSignal(signals);
  fprintf(stderr, "worker: signal %d: finishing in-flight shards, then exiting\n", sig);
  const bool drained = (*client)->Drain(std::chrono::seconds(f.drain_timeout_s));
  (*node)->Stop();
  if (!drained) {
    PrintError("drain timed out: " + std::to_string((*client)->unacked()) +
               " result batches were not acked (their shards will be re-leased)");
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

void RegisterWorker(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand("worker", "Run a worker that takes shards from a coordinator");
  auto f = std::make_shared<WorkerFlags>();
  f->coordinator.Add(cmd);
  f->engine.Add(cmd);
  cmd->add_option("--metrics", f->metrics, "Prometheus /metrics address HOST:PORT");
  cmd->add_option("--id", f->id, "Worker id (default: host-pid-random)");
  cmd->add_option("--drain-timeout", f->drain_timeout_s,
                  "Seconds to finish in-flight work after SIGTERM")
      ->capture_default_str();
  cmd->callback([&state, f] { state.exit_code = Run(*f); });
}

}  // namespace mxcensus::cli
