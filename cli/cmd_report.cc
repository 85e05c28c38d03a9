// mxcensus report: Print the standard tables of a crawl, or of all crawls over time
// Not built yet: its issue has not landed. The flags are declared so that --help documents them.
#include "cli/command.h"
#include "cli/input_file.h"

namespace mxcensus::cli {

void RegisterReport(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand(
      "report", "Print the standard tables of a crawl, or of all crawls over time");
  static DbOption db(cmd);
  cmd->add_option("--crawl", "Crawl id or name (default: the latest finished)");
  cmd->add_option("--compare", "Second crawl id to compare with");
  cmd->add_option("--format", "text|markdown|csv|json|html")->default_val("text");
  cmd->add_option("--out", "Output directory");
  cmd->callback([&state] { state.exit_code = NotImplemented("report"); });
}

}  // namespace mxcensus::cli
