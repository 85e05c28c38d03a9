// mxcensus: one binary, one subcommand per job (DESIGN.md "The command line").
#include <cstdio>

#include "cli/command.h"
#include "common/version.h"

int main(int argc, char** argv) {
  using namespace mxcensus::cli;
  CLI::App app{"mxcensus: an Internet-wide survey of how mail servers protect mail in transit"};
  app.name("mxcensus");
  app.require_subcommand(1);
  app.set_version_flag("--version",
                       std::string(mxcensus::kVersion) + " (" + mxcensus::kGitSha + ")");
  RunState state;
  RegisterScan(app, state);
  RegisterProbe(app, state);
  RegisterResolve(app, state);
  RegisterCoordinator(app, state);
  RegisterWorker(app, state);
  RegisterCrawl(app, state);
  RegisterReport(app, state);
  RegisterDb(app, state);
  RegisterLab(app, state);
  RegisterMaillog(app, state);
  RegisterAdvise(app, state);
  RegisterCerts(app, state);
  RegisterVersion(app, state);
  // CLI11 would only say "a subcommand is required"; name the unknown word instead.
  auto known = [&app](const std::string& name) {
    for (const auto* sub : app.get_subcommands({})) {
      if (sub->check_name(name)) return true;
    }
    return false;
  };
  if (argc > 1 && argv[1][0] != '-' && !known(argv[1])) {
    PrintError(std::string("unknown command '") + argv[1] + "'");
    std::fprintf(stderr, "Run 'mxcensus --help' for the list of commands.\n");
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, naming the flag or argument, then a pointer to --help.
    PrintError(e.what());
    std::fprintf(stderr, "Run 'mxcensus --help' or 'mxcensus <command> --help' for usage.\n");
    return kExitUsage;
  }
  return state.exit_code;
}
