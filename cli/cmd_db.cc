// mxcensus db migrate|start|stop|status|dsn: the schema, and the embedded local cluster.
#include <cstdio>

#include "cli/command.h"
#include "storage/db.h"
#include "storage/local_cluster.h"
#include "storage/migrations.h"

namespace mxcensus::cli {
namespace {

int Migrate(const DbOption& db) {
  auto dsn = db.Resolve();
  if (!dsn.ok()) return Fail(dsn.status());
  auto conn = storage::Connect(*dsn);
  if (!conn.ok()) return Fail(conn.status());
  auto report = storage::Migrate(**conn);
  if (!report.ok()) return Fail(report.status());
  for (const auto& name : report->applied) std::printf("applied %s\n", name.c_str());
  for (const auto& w : report->warnings) std::printf("warning: %s\n", w.c_str());
  std::printf("schema at version %d (%zu migration%s applied now)\n", report->current_version,
              report->applied.size(), report->applied.size() == 1 ? "" : "s");
  return kExitOk;
}

int Cluster(const std::string& action) {
  auto cluster = storage::LocalCluster::FromEnvironment();
  if (!cluster.ok()) return Fail(cluster.status());
  if (action == "start") {
    if (auto s = cluster->EnsureRunning(); !s.ok()) return Fail(s);
    std::printf("embedded database running in %s\n", cluster->data_dir().c_str());
    return kExitOk;
  }
  if (action == "stop") {
    if (auto s = cluster->Stop(); !s.ok()) return Fail(s);
    std::printf("embedded database stopped\n");
    return kExitOk;
  }
  if (action == "dsn") {
    std::printf("%s\n", cluster->Dsn().c_str());
    return kExitOk;
  }
  auto running = cluster->IsRunning();
  if (!running.ok()) return Fail(running.status());
  std::printf("home:    %s\ndata:    %s (%s)\nstate:   %s\ndsn:     %s\nlog:     %s\n",
              cluster->home().c_str(), cluster->data_dir().c_str(),
              cluster->IsInitialised() ? "initialised" : "not initialised",
              *running ? "running" : "stopped", cluster->Dsn().c_str(),
              cluster->log_file().c_str());
  // Exit 3 when stopped, like pg_ctl status, so scripts can test it.
  return *running ? kExitOk : 3;
}

}  // namespace

void RegisterDb(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand("db", "The database schema and the embedded local cluster");
  cmd->require_subcommand(1);
  auto* migrate = cmd->add_subcommand(
      "migrate", "Apply the schema migrations this binary carries (idempotent)");
  auto db = std::make_shared<DbOption>(migrate);
  migrate->callback([&state, db] { state.exit_code = Migrate(*db); });
  for (auto [name, help] :
       {std::pair{"start", "Create (first time) and start the embedded cluster"},
        std::pair{"stop", "Stop the embedded cluster"},
        std::pair{"status", "Show the embedded cluster's state (exit 3: stopped)"},
        std::pair{"dsn", "Print the embedded cluster's DSN (psql accepts it)"}}) {
    std::string action = name;
    cmd->add_subcommand(name, help)->callback([&state, action] {
      state.exit_code = Cluster(action);
    });
  }
}

}  // namespace mxcensus::cli
