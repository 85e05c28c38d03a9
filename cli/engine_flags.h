#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/node/worker_node.h"

namespace mxcensus::cli {

// The probing and resolving flags shared by `worker` and `scan` (the same names as `probe` and
// `resolve` use), turned into a WorkerNode's options.
struct EngineFlags {
  int threads = 1;
  size_t concurrency = 1000;
  double rate = 200;
  int per_address = 1;
  int per_prefix = 4;
  std::string blocklist;
  bool allow_private = false;
  std::string ehlo;
  std::string ca_file;
  bool no_system_trust = false;
  std::string connect_timeout = "10s", banner_timeout = "30s", command_timeout = "30s",
              tls_timeout = "15s", quit_timeout = "2s";
  std::vector<std::string> resolvers;
  int dns_timeout_ms = 2000;
  int dns_tries = 3;
  bool no_ipv6 = false;

  void Add(CLI::App* cmd);
  absl::StatusOr<worker::WorkerNodeOptions> Build() const;
};

}  // namespace mxcensus::cli
