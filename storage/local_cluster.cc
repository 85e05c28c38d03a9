#include "storage/local_cluster.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "common/subprocess.h"
#include "storage/db.h"
#include "storage/migrations.h"

namespace mxcensus::storage {
namespace fs = std::filesystem;
namespace {

constexpr const char* kServiceUser = "postgres";

std::string Env(const char* name) {
  const char* v = getenv(name);
  return v ? v : "";
}

absl::Status MkdirOwned(const std::string& dir, bool as_root, mode_t mode) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError("cannot create " + dir + ": " + ec.message());
  chmod(dir.c_str(), mode);
  if (as_root) {
    const passwd* pw = getpwnam(kServiceUser);
    if (pw == nullptr) {
      return absl::FailedPreconditionError(
          "running as root needs the unprivileged user 'postgres' (install the postgresql "
          "package, or run mxcensus as a normal user)");
    }
    if (chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return absl::PermissionDeniedError("cannot chown " + dir + " to postgres");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> FindPgBinDir() {
  if (std::string d = Env("MXCENSUS_PG_BINDIR"); !d.empty()) {
    if (access((d + "/initdb").c_str(), X_OK) == 0) return d;
    return absl::NotFoundError("MXCENSUS_PG_BINDIR=" + d + " holds no initdb");
  }
  int best = -1;
  std::string best_dir;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string name = e.path().filename().string();
    const int v = atoi(name.c_str());
    const std::string bin = e.path().string() + "/bin";
    if (v > best && access((bin + "/initdb").c_str(), X_OK) == 0) {
      best = v;
      best_dir = bin;
    }
  }
  if (best >= 0) return best_dir;
  auto which = RunProcess({"sh", "-c", "command -v initdb"});
  if (which.ok() && which->exit_code == 0 && !which->output.empty()) {
    std::string p = which->output.substr(0, which->output.find('\n'));
    return fs::path(p).parent_path().string();
  }
  return absl::NotFoundError(
      "PostgreSQL server binaries not found (install the 'postgresql' package, or set "
      "MXCENSUS_PG_BINDIR, or pass --db DSN)");
}

absl::StatusOr<LocalCluster> LocalCluster::FromEnvironment() {
  LocalCluster c;
  c.as_root_ = geteuid() == 0;
  c.home_ = Env("MXCENSUS_HOME");
  if (c.home_.empty()) {
    if (c.as_root_) {
      c.home_ = "/var/lib/mxcensus";
    } else if (std::string xdg = Env("XDG_DATA_HOME"); !xdg.empty()) {
      c.home_ = xdg + "/mxcensus";
    } else if (std::string home = Env("HOME"); !home.empty()) {
      c.home_ = home + "/.local/share/mxcensus";
    } else {
      return absl::FailedPreconditionError(
          "set MXCENSUS_HOME (neither HOME nor XDG_DATA_HOME is set)");
    }
  }
  c.home_ = fs::absolute(c.home_).lexically_normal().string();
  if (!c.home_.empty() && c.home_.back() == '/') c.home_.pop_back();
  c.data_dir_ = c.home_ + "/pg/data";
  c.socket_dir_ = c.home_ + "/pg/run";
  c.log_file_ = c.home_ + "/pg/server.log";
  // A unix socket path is limited to 107 bytes.
  if (c.socket_dir_.size() + 20 > 107) {
    return absl::InvalidArgumentError("MXCENSUS_HOME path is too long for a unix socket: " +
                                      c.home_);
  }
  auto bin = FindPgBinDir();
  if (!bin.ok()) return bin.status();
  c.bin_dir_ = *bin;
  return c;
}

bool LocalCluster::IsInitialised() const {
  return access((data_dir_ + "/PG_VERSION").c_str(), F_OK) == 0;
}

std::string LocalCluster::Dsn() const {
  return "postgresql:///" + std::string(kDatabase) + "?host=" + socket_dir_ +
         "&port=" + std::to_string(kPort) + "&user=" + kUser;
}

absl::StatusOr<std::string> LocalCluster::RunPg(const std::string& program,
                                                const std::vector<std::string>& args) const {
  std::vector<std::string> argv;
  if (as_root_) argv = {"runuser", "-u", kServiceUser, "--"};
  argv.push_back(bin_dir_ + "/" + program);
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = RunProcess(argv);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(program + " failed (exit " + std::to_string(r->exit_code) +
                               "): " + OneLine(r->output) + " [log: " + log_file_ + "]");
  }
  return r->output;
}

absl::Status LocalCluster::Init() {
  // The home holds only our cluster; the data directory must be private (PostgreSQL checks).
  if (auto s = MkdirOwned(home_ + "/pg", as_root_, 0700); !s.ok()) return s;
  if (auto s = MkdirOwned(socket_dir_, as_root_, 0700); !s.ok()) return s;
  if (as_root_) {
    // The server user must be able to reach the directory through every ancestor.
    auto probe = RunProcess({"runuser", "-u", kServiceUser, "--", "test", "-x", home_ + "/pg"});
    if (!probe.ok() || probe->exit_code != 0) {
      return absl::PermissionDeniedError(
          "the 'postgres' user cannot reach " + home_ +
          "; set MXCENSUS_HOME to a directory whose parents are world-searchable "
          "(default for root: /var/lib/mxcensus)");
    }
  }
  auto r = RunPg("initdb", {"-D", data_dir_, "-U", kUser, "--auth=trust", "-E", "UTF8",
                            "--locale=C.UTF-8", "--no-sync"});
  return r.ok() ? absl::OkStatus() : r.status();
}

absl::Status LocalCluster::Start() {
  if (auto s = MkdirOwned(socket_dir_, as_root_, 0700); !s.ok()) return s;
  // listen_addresses='' : unix socket only, so nothing of ours is reachable over the network.
  const std::string opts = "-c listen_addresses='' -k " + socket_dir_ + " -p " +
                           std::to_string(kPort) + " -c max_connections=200";
  auto r =
      RunPg("pg_ctl", {"-D", data_dir_, "-l", log_file_, "-w", "-t", "60", "-o", opts, "start"});
  return r.ok() ? absl::OkStatus() : r.status();
}

absl::StatusOr<bool> LocalCluster::IsRunning() const {
  if (!IsInitialised()) return false;
  std::vector<std::string> argv;
  if (as_root_) argv = {"runuser", "-u", kServiceUser, "--"};
  argv.push_back(bin_dir_ + "/pg_ctl");
  argv.insert(argv.end(), {"-D", data_dir_, "status"});
  auto r = RunProcess(argv);
  if (!r.ok()) return r.status();
  // pg_ctl status: 0 running, 3 not running, 4 no accessible data directory.
  return r->exit_code == 0;
}

absl::Status LocalCluster::EnsureRunning() {
  if (!IsInitialised()) {
    if (auto s = Init(); !s.ok()) return s;
  }
  auto running = IsRunning();
  if (!running.ok()) return running.status();
  if (!*running) {
    if (auto s = Start(); !s.ok()) return s;
  }
  {
    // Checked every time, so a first start interrupted before CREATE DATABASE heals itself.
    auto conn = Connect("postgresql:///postgres?host=" + socket_dir_ +
                        "&port=" + std::to_string(kPort) + "&user=" + kUser);
    if (!conn.ok()) return conn.status();
    auto s = WithSqlErrors("create database", [&]() -> absl::Status {
      pqxx::nontransaction tx(**conn);
      auto r = tx.exec_params("SELECT 1 FROM pg_database WHERE datname = $1", kDatabase);
      if (r.empty()) tx.exec("CREATE DATABASE " + std::string(kDatabase));
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
  }
  auto conn = Connect(Dsn());
  if (!conn.ok()) return conn.status();
  auto m = Migrate(**conn);
  return m.ok() ? absl::OkStatus() : m.status();
}

absl::Status LocalCluster::Stop() {
  auto running = IsRunning();
  if (!running.ok()) return running.status();
  if (!*running) return absl::OkStatus();
  auto r = RunPg("pg_ctl", {"-D", data_dir_, "-w", "-t", "60", "-m", "fast", "stop"});
  return r.ok() ? absl::OkStatus() : r.status();
}

}  // namespace mxcensus::storage
