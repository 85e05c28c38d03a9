// mxcensus worker: Run a worker that takes shards from a coordinator
// Not built yet: its issue has not landed. The flags are declared so that --help documents them.
#include "cli/command.h"
#include "cli/input_file.h"

namespace mxcensus::cli {

void RegisterWorker(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand("worker", "Run a worker that takes shards from a coordinator");
  cmd->add_option("--coordinator", "Coordinator address")->default_val("127.0.0.1:7400");
  cmd->add_option("--concurrency", "Probes in flight")->default_val(5000);
  cmd->add_option("--threads", "Loop threads")->default_val(1);
  cmd->add_option("--metrics", "Prometheus metrics address (HOST:PORT)");
  cmd->callback([&state] { state.exit_code = NotImplemented("worker"); });
}

}  // namespace mxcensus::cli
