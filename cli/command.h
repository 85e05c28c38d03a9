#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mxcensus::cli {

// Exit codes of every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the work ran but failed (e.g. a crawl failed)
inline constexpr int kExitUsage = 2;    // bad input: flags, files, DSN, unreachable database

// The shared state of a run: a subcommand's callback stores its exit code here.
struct RunState {
  int exit_code = kExitOk;
};

// Prints "mxcensus: error: <text>" as one line on stderr.
void PrintError(std::string_view text);
// Prints the status as an error and returns kExitUsage (our own failures at the boundary).
int Fail(const absl::Status& status);

// The database DSN: --db, else $MXCENSUS_DB, else the embedded cluster (started on demand),
// with the password from --db-password-file / $MXCENSUS_DB_PASSWORD_FILE added when given.
// Adds --db and --db-password-file to `cmd`; call Resolve() inside the callback.
class DbOption {
 public:
  explicit DbOption(CLI::App* cmd);
  // Returns the DSN to use, starting the embedded cluster when none was given.
  absl::StatusOr<std::string> Resolve() const;

 private:
  std::string dsn_;
  std::string password_file_;
};

// Each subcommand registers itself with the app (cmd_<name>.cc).
void RegisterVersion(CLI::App& app, RunState& state);
void RegisterDb(CLI::App& app, RunState& state);
void RegisterScan(CLI::App& app, RunState& state);
void RegisterProbe(CLI::App& app, RunState& state);
void RegisterResolve(CLI::App& app, RunState& state);
void RegisterCoordinator(CLI::App& app, RunState& state);
void RegisterWorker(CLI::App& app, RunState& state);
void RegisterCrawl(CLI::App& app, RunState& state);
void RegisterReport(CLI::App& app, RunState& state);
void RegisterLab(CLI::App& app, RunState& state);
void RegisterMaillog(CLI::App& app, RunState& state);
void RegisterAdvise(CLI::App& app, RunState& state);
void RegisterCerts(CLI::App& app, RunState& state);

// --token-file, shared by every command that talks to a coordinator.
void AddTokenFlag(CLI::App* cmd, std::string* path);
// The token in the first line of `path` ("" when path is empty); errors name the flag.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

// --psl-extra FILE: extra public-suffix rules (PSL format) for the registrable domain of MX
// names, the provider in the SQL views; ApplyPublicSuffixFlag loads them ("" = none).
void AddPublicSuffixFlag(CLI::App* cmd, std::string* path);
absl::Status ApplyPublicSuffixFlag(const std::string& path);

// For subcommands whose issue has not landed: prints "not implemented yet", exit 2.
int NotImplemented(std::string_view name);

}  // namespace mxcensus::cli
