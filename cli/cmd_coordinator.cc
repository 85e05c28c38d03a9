// mxcensus coordinator: the gRPC service workers and admin clients talk to.
#include <cstdio>

#include "cli/command.h"
#include "cli/signals.h"
#include "coordinator/server.h"
#include "storage/db.h"
#include "storage/migrations.h"

namespace mxcensus::cli {
namespace {

struct CoordinatorFlags {
  coordinator::ServerOptions server;
  std::string token_file;
  std::string psl_extra;
  int lease_seconds = 30;
  int db_writers = coordinator::CoordinatorOptions().db_writers;
};

int Run(const CoordinatorFlags& flags, const DbOption& db) {
  if (auto s = ApplyPublicSuffixFlag(flags.psl_extra); !s.ok()) return Fail(s);
  auto dsn = db.Resolve();
  if (!dsn.ok()) return Fail(dsn.status());
  {
    // Fail early, with one clear line, on an unreachable database or an old schema.
    auto conn = storage::Connect(*dsn);
    if (!conn.ok()) return Fail(conn.status());
    auto m = storage::Migrate(**conn);
    if (!m.ok()) return Fail(m.status());
    for (const auto& w : m->warnings) fprintf(stderr, "coordinator: migration: %s\n", w.c_str());
  }
  auto token = ReadTokenFile(flags.token_file);
  if (!token.ok()) return Fail(token.status());
  coordinator::CoordinatorOptions core;
  core.dsn = *dsn;
  core.token = *token;
  core.lease_duration = std::chrono::seconds(flags.lease_seconds);
  core.db_writers = flags.db_writers;
  sigset_t signals = BlockTerminationSignals();
  auto server = coordinator::CoordinatorServer::Start(core, flags.server);
  if (!server.ok()) return Fail(server.status());
  fprintf(stderr, "coordinator: listening on port %d%s\n", (*server)->port(),
          flags.server.metrics.empty() ? "" : (", metrics on " + flags.server.metrics).c_str());
  printf("ready port=%d\n", (*server)->port());
  fflush(stdout);
  int sig = WaitForSignal(signals);
  fprintf(stderr, "coordinator: signal %d, draining workers and stopping\n", sig);
  (*server)->Shutdown(std::chrono::milliseconds(2000));
  return kExitOk;
}

}  // namespace

void RegisterCoordinator(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand("coordinator", "Run the coordinator gRPC service");
  auto flags = std::make_shared<CoordinatorFlags>();
  auto db = std::make_shared<DbOption>(cmd);
  cmd->add_option("--listen", flags->server.listen, "gRPC listen address HOST:PORT")
      ->capture_default_str();
  cmd->add_option("--metrics", flags->server.metrics, "Prometheus /metrics address HOST:PORT");
  AddTokenFlag(cmd, &flags->token_file);
  AddPublicSuffixFlag(cmd, &flags->psl_extra);
  cmd->add_option("--tls-cert", flags->server.tls_cert, "Server certificate (PEM)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-key", flags->server.tls_key, "Server private key (PEM)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-client-ca", flags->server.tls_client_ca,
                  "CA (PEM) that signs worker certificates: enables mutual TLS")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--insecure", flags->server.insecure,
                "Allow plaintext without a token on a non-loopback address");
  cmd->add_option("--lease", flags->lease_seconds, "Shard lease duration in seconds")
      ->capture_default_str()
      ->check(CLI::Range(2, 3600));
  cmd->add_option("--db-writers", flags->db_writers,
                  "Database connections that ingest results concurrently (each shard's batches "
                  "stay on one)")
      ->capture_default_str()
      ->check(CLI::Range(1, 32));
  cmd->callback([&state, flags, db] { state.exit_code = Run(*flags, *db); });
}

}  // namespace mxcensus::cli
