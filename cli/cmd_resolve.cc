// mxcensus resolve: Standalone resolver: MX/A/AAAA/policy records, JSON lines out
// Not built yet: its issue has not landed. The flags are declared so that --help documents them.
#include "cli/command.h"
#include "cli/input_file.h"

namespace mxcensus::cli {

void RegisterResolve(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand("resolve", "Standalone resolver: MX/A/AAAA/policy records, JSON lines out");
  static std::string domains;
  cmd->add_option("DOMAINS", domains, "Domain list (- = stdin)")->required()->check(InputFile());
  cmd->add_option("--resolver", "Resolver IP:PORT (repeatable)");
  cmd->add_option("--out", "Output file (default stdout)");
  cmd->callback([&state] { state.exit_code = NotImplemented("resolve"); });
}

}  // namespace mxcensus::cli
