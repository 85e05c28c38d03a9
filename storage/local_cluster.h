#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mxcensus::storage {

// The embedded default database: a private PostgreSQL cluster under $MXCENSUS_HOME/pg that
// mxcensus initialises and starts itself, reachable only over a unix socket in a private
// directory. When mxcensus runs as root the server runs as the unprivileged `postgres` user
// (PostgreSQL refuses to run as root).
//
// Home directory: $MXCENSUS_HOME, else $XDG_DATA_HOME/mxcensus or ~/.local/share/mxcensus; as
// root the default is /var/lib/mxcensus, because /root is not reachable by the `postgres` user.
class LocalCluster {
 public:
  // Resolves paths and the PostgreSQL binaries; does not touch the disk.
  static absl::StatusOr<LocalCluster> FromEnvironment();

  // Creates the cluster if needed, starts it if it is not running, and applies migrations.
  absl::Status EnsureRunning();
  absl::Status Stop();
  // True when the server is running; false when stopped or never initialised.
  absl::StatusOr<bool> IsRunning() const;
  bool IsInitialised() const;

  // A libpq URI for the cluster's mxcensus database (valid for psql too).
  std::string Dsn() const;

  const std::string& home() const { return home_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& socket_dir() const { return socket_dir_; }
  const std::string& log_file() const { return log_file_; }

  static constexpr int kPort = 5432;  // only names the socket file; nothing listens on TCP
  static constexpr const char* kUser = "mxcensus";
  static constexpr const char* kDatabase = "mxcensus";

 private:
  LocalCluster() = default;
  absl::Status Init();
  absl::Status Start();
  // Runs a PostgreSQL program, as `postgres` when we are root.
  absl::StatusOr<std::string> RunPg(const std::string& program,
                                    const std::vector<std::string>& args) const;

  std::string home_, data_dir_, socket_dir_, log_file_, bin_dir_;
  bool as_root_ = false;
};

// Finds the PostgreSQL server binaries: $MXCENSUS_PG_BINDIR, else the newest
// /usr/lib/postgresql/<N>/bin (Debian), else the directory of `initdb` in PATH.
absl::StatusOr<std::string> FindPgBinDir();

}  // namespace mxcensus::storage
