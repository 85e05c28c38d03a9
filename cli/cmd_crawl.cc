// mxcensus crawl start|status|list|cancel: talk to a coordinator.
// Not built yet: its issue has not landed. The flags are declared so that --help documents them.
#include "cli/command.h"
#include "cli/input_file.h"

namespace mxcensus::cli {

void RegisterCrawl(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand("crawl", "Start, watch, list and cancel crawls on a coordinator");
  cmd->require_subcommand(1);
  cmd->add_option("--coordinator", "Coordinator address")->default_val("127.0.0.1:7400");
  auto* start = cmd->add_subcommand("start", "Start a crawl of a domain list; prints its id");
  static std::string domains;
  start->add_option("DOMAINS", domains, "Domain list")->required()->check(InputFile());
  start->add_option("--name", "Crawl name")->required();
  start->add_option("--port", "SMTP port")->default_val(25);
  auto* status = cmd->add_subcommand("status", "Progress of a crawl");
  status->add_option("ID", "Crawl id (default: the latest)");
  static bool watch = false;
  status->add_flag("--watch", watch, "Refresh until the crawl ends");
  auto* list = cmd->add_subcommand("list", "List crawls");
  auto* cancel = cmd->add_subcommand("cancel", "Cancel a crawl");
  cancel->add_option("ID", "Crawl id")->required();
  for (auto* sub : {start, status, list, cancel}) {
    sub->callback([&state] { state.exit_code = NotImplemented("crawl"); });
  }
}

}  // namespace mxcensus::cli
