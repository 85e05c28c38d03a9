// mxcensus advise: Per-domain diagnosis, the fix for the detected MTA, notification drafts
// Not built yet: its issue has not landed. The flags are declared so that --help documents them.
#include "cli/command.h"
#include "cli/input_file.h"

namespace mxcensus::cli {

void RegisterAdvise(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand(
      "advise", "Per-domain diagnosis, the fix for the detected MTA, notification drafts");
  static DbOption db(cmd);
  cmd->add_option("--crawl", "Crawl id");
  cmd->add_option("DOMAIN", "Domains to advise on");
  cmd->add_option("--format", "text|markdown|json")->default_val("text");
  cmd->add_option("--notify-draft", "Directory for one message draft per domain");
  static bool require_tls = false;
  cmd->add_flag("--require-tls", require_tls, "Simulate mandatory inbound STARTTLS");
  cmd->callback([&state] { state.exit_code = NotImplemented("advise"); });
}

}  // namespace mxcensus::cli
