#include "cli/command.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "common/file_util.h"
#include "common/public_suffix.h"
#include "storage/dsn.h"
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

void AddPublicSuffixFlag(CLI::App* cmd, std::string* path) {
  cmd->add_option("--psl-extra", *path,
                  "Extra public-suffix rules, one suffix a line (e.g. the lab's "
                  "DIR/public_suffix_list.dat), for the MX providers of the SQL views")
      ->check(CLI::ExistingFile);
}

absl::Status ApplyPublicSuffixFlag(const std::string& path) {
  if (path.empty()) return absl::OkStatus();
  return UseExtraPublicSuffixRules("--psl-extra", path);
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
  cmd->add_option("--db-password-file", password_file_,
                  "File whose first line is the database password, added to the DSN (default "
                  "$MXCENSUS_DB_PASSWORD_FILE; for compose/Kubernetes secrets)");
}

absl::StatusOr<std::string> DbOption::Resolve() const {
  std::string password_file = password_file_;
  const char* what = "--db-password-file";
  if (const char* env = std::getenv("MXCENSUS_DB_PASSWORD_FILE");
      password_file.empty() && env != nullptr && *env != '\0') {
    password_file = env;
    what = "$MXCENSUS_DB_PASSWORD_FILE";
  }
  std::string dsn = dsn_;
  if (const char* env = std::getenv("MXCENSUS_DB"); dsn.empty() && env != nullptr && *env != '\0') {
    dsn = env;
  }
  if (!dsn.empty() && !password_file.empty()) {
    auto text = ReadWholeFile(what, password_file);
    if (!text.ok()) return text.status();
    std::string password = text->substr(0, text->find_first_of("\r\n"));
    if (password.empty()) {
      return absl::InvalidArgumentError(std::string(what) + ": " + password_file +
                                        " has an empty first line");
    }
    auto with = storage::DsnWithPassword(dsn, password);
    if (!with.ok())
      return absl::InvalidArgumentError(std::string(what) + ": " +
                                        std::string(with.status().message()));
    return *with;
  }
  if (!dsn.empty()) return dsn;
  if (!password_file.empty()) {
    return absl::InvalidArgumentError(std::string(what) +
                                      " needs a DSN (--db or $MXCENSUS_DB) to add it to");
  }
  auto cluster = storage::LocalCluster::FromEnvironment();
  if (!cluster.ok()) return cluster.status();
  if (auto s = cluster->EnsureRunning(); !s.ok()) {
    return absl::Status(s.code(), "embedded database: " + std::string(s.message()));
  }
  return cluster->Dsn();
}

}  // namespace mxcensus::cli
