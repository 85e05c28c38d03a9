// mxcensus coordinator: Run the coordinator gRPC service
// Not built yet: its issue has not landed. The flags are declared so that --help documents them.
#include "cli/command.h"
#include "cli/input_file.h"

namespace mxcensus::cli {

void RegisterCoordinator(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand("coordinator", "Run the coordinator gRPC service");
  static DbOption db(cmd);
  cmd->add_option("--listen", "gRPC listen address")->default_val("127.0.0.1:7400");
  cmd->add_option("--metrics", "Prometheus metrics address (HOST:PORT)");
  cmd->callback([&state] { state.exit_code = NotImplemented("coordinator"); });
}

}  // namespace mxcensus::cli
