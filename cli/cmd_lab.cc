// mxcensus lab: Run the simulated mail world on loopback (SMTP hosts, DNS, ground truth)
// Not built yet: its issue has not landed. The flags are declared so that --help documents them.
#include "cli/command.h"
#include "cli/input_file.h"

namespace mxcensus::cli {

void RegisterLab(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand("lab", "Run the simulated mail world on loopback (SMTP hosts, DNS, ground truth)");
  cmd->add_option("--hosts", "Number of hosts")->default_val(1000);
  cmd->add_option("--seed", "Seed")->default_val(1);
  cmd->add_option("--out", "Output directory")->required();
  cmd->callback([&state] { state.exit_code = NotImplemented("lab"); });
}

}  // namespace mxcensus::cli
