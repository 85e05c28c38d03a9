// mxcensus maillog: Peer domains and their observed TLS from Postfix/Exim/Sendmail logs
// Not built yet: its issue has not landed. The flags are declared so that --help documents them.
#include "cli/command.h"
#include "cli/input_file.h"

namespace mxcensus::cli {

void RegisterMaillog(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand(
      "maillog", "Peer domains and their observed TLS from Postfix/Exim/Sendmail logs");
  static std::vector<std::string> files;
  cmd->add_option("FILE", files, "Mail log files (plain or .gz)")->required()->check(InputFile());
  cmd->add_option("--format", "auto|postfix|exim|sendmail")->default_val("auto");
  cmd->add_option("--since", "Only lines from this date on");
  cmd->add_option("--out", "Domain list output");
  cmd->add_option("--json", "Per-domain observations as JSON");
  cmd->callback([&state] { state.exit_code = NotImplemented("maillog"); });
}

}  // namespace mxcensus::cli
