// mxcensus probe: Standalone prober: targets in (ip[,name[,tag]]), JSON lines out
// Not built yet: its issue has not landed. The flags are declared so that --help documents them.
#include "cli/command.h"
#include "cli/input_file.h"

namespace mxcensus::cli {

void RegisterProbe(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand("probe", "Standalone prober: targets in (ip[,name[,tag]]), JSON lines out");
  static std::string targets;
  cmd->add_option("TARGETS", targets, "Targets file (- = stdin)")->required()->check(InputFile());
  cmd->add_option("--port", "SMTP port")->default_val(25);
  cmd->add_option("--out", "Output file (default stdout)");
  cmd->callback([&state] { state.exit_code = NotImplemented("probe"); });
}

}  // namespace mxcensus::cli
