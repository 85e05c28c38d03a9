// mxcensus certs: CA and certificates for mutual TLS between workers and coordinator
// Not built yet: its issue has not landed. The flags are declared so that --help documents them.
#include "cli/command.h"
#include "cli/input_file.h"

namespace mxcensus::cli {

void RegisterCerts(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand(
      "certs", "CA and certificates for mutual TLS between workers and coordinator");
  auto* init = cmd->add_subcommand("init", "Create a CA, a coordinator and worker certificates");
  static std::string dir;
  init->add_option("DIR", dir, "Output directory")->required();
  cmd->require_subcommand(1);
  cmd->callback([&state] { state.exit_code = NotImplemented("certs"); });
}

}  // namespace mxcensus::cli
