#include "cli/command.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "storage/local_cluster.h"

namespace mxcensus::cli {

void PrintError(std::string_view text) {
  std::string line(text);
  for (char& c : line) {
    if (c == '\n') c = ' ';
  }
  std::fprintf(stderr, "mxcensus: error: %s\n", line.c_str());
}

int Fail(const absl::Status& status) {
  PrintError(std::string(status.message()));
  return kExitUsage;
}

void AddTokenFlag(CLI::App* cmd, std::string* path) {
  cmd->add_option("--token-file", *path, "File holding the bearer token (first line)")
      ->check(CLI::ExistingFile);
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream f(path);
  if (!f) return absl::InvalidArgumentError("--token-file: cannot read " + path);
  std::string token;
  std::getline(f, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty()) return absl::InvalidArgumentError("--token-file: " + path + " is empty");
  return token;
}

int NotImplemented(std::string_view name) {
  std::fprintf(stderr, "mxcensus %.*s: not implemented yet\n", static_cast<int>(name.size()),
               name.data());
  return kExitUsage;
}

DbOption::DbOption(CLI::App* cmd) {
  cmd->add_option("--db", dsn_,
                  "PostgreSQL DSN (libpq URI or key=value); default $MXCENSUS_DB, else the "
                  "embedded cluster under $MXCENSUS_HOME");
}

absl::StatusOr<std::string> DbOption::Resolve() const {
  if (!dsn_.empty()) return dsn_;
  if (const char* env = std::getenv("MXCENSUS_DB"); env != nullptr && *env != '\0') return env;
  auto cluster = storage::LocalCluster::FromEnvironment();
  if (!cluster.ok()) return cluster.status();
  if (auto s = cluster->EnsureRunning(); !s.ok()) {
    return absl::Status(s.code(), "embedded database: " + std::string(s.message()));
  }
  return cluster->Dsn();
}

}  // namespace mxcensus::cli
