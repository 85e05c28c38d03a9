#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/dns/resolver.h"
#include "worker/node/worker_node.h"
#include "worker/probe/engine.h"

namespace mxcensus::cli {

// The probing flags of `probe`, `worker` and `scan`: politeness, identity, trust, timeouts and
// byte bounds, turned into a ProbeEngineOptions (concurrency and rate are totals over threads).
struct ProbeEngineFlags {
  int threads = 1;
  size_t concurrency = 1000;
  long slow_concurrency = -1;  // -1: 2 x --concurrency, within the socket limit
  std::string slow_after = "1s";
  double rate = 200;
  int per_address = 1;
  int per_prefix = 4;
  std::string blocklist;
  bool allow_private = false;
  std::string ehlo;
  std::string ca_file;
  bool no_system_trust = false;
  bool no_ehlo_tls = false;
  std::string connect_timeout = "10s", banner_timeout = "30s", command_timeout = "30s",
              tls_timeout = "15s", quit_timeout = "2s";
  size_t max_bytes = 256 * 1024;
  size_t max_line = 2048;

  void Add(CLI::App* cmd);
  absl::StatusOr<probe::ProbeEngineOptions> Build() const;
};

// The resolver flags of `worker` and `scan` (`resolve` has its own, with the same names).
struct DnsFlags {
  std::vector<std::string> resolvers;
  int timeout_ms = 2000;
  int tries = 3;
  bool no_ipv6 = false;

  void Add(CLI::App* cmd);
  absl::StatusOr<dns::ResolverOptions> Build() const;
};

// Both, for a WorkerNode.
struct EngineFlags {
  ProbeEngineFlags probe;
  DnsFlags dns;

  void Add(CLI::App* cmd) {
    probe.Add(cmd);
    dns.Add(cmd);
  }
  absl::StatusOr<worker::WorkerNodeOptions> Build() const;
};

}  // namespace mxcensus::cli
