// mxcensus scan: All-in-one crawl: coordinator and workers in one process, results in PostgreSQL
// Not built yet: its issue has not landed. The flags are declared so that --help documents them.
#include "cli/command.h"
#include "cli/input_file.h"

namespace mxcensus::cli {

void RegisterScan(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand("scan", "All-in-one crawl: coordinator and workers in one process, results in PostgreSQL");
  static std::string domains;
  cmd->add_option("DOMAINS", domains, "Domain list (one a line, or rank,domain CSV; - = stdin)")
      ->required()->check(InputFile());
  static DbOption db(cmd);
  cmd->add_option("--workers", "Worker loop threads")->default_val(2);
  cmd->add_option("--port", "SMTP port to probe")->default_val(25);
  cmd->callback([&state] { state.exit_code = NotImplemented("scan"); });
}

}  // namespace mxcensus::cli
