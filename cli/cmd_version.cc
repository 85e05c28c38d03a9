#include <cstdio>

#include "cli/command.h"
#include "common/version.h"

namespace mxcensus::cli {

void RegisterVersion(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand("version", "Print mxcensus's version and git commit");
  cmd->callback([&state] {
    std::printf("mxcensus %s (%s)\n", kVersion, kGitSha);
    state.exit_code = kExitOk;
  });
}

}  // namespace mxcensus::cli
