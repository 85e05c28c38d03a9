#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/cidr.h"
#include "common/probe_result.h"
#include "worker/politeness/target_policy.h"
#include "worker/probe/probe_machine.h"

// libuv's loop type, declared here so that worker/probe/ stays free of uv.h.
struct uv_loop_s;
typedef struct uv_loop_s uv_loop_t;  // NOLINT: libuv's own spelling

namespace mxcensus::tls {
class ClientContext;
class ChainVerifier;
}  // namespace mxcensus::tls

namespace mxcensus::probe {

struct ProbeEngineOptions {
  ProbeTimeouts timeouts;          // per-stage deadlines
  std::string ehlo_name;           // required (the CLI defaults it to the host's FQDN)
  smtp::ReplyLimits reply_limits;  // line length, lines and bytes per reply
  size_t max_bytes_per_probe = 256 * 1024;
  bool ehlo_over_tls = true;  // EHLO again inside TLS, recorded as ehlo_tls
  size_t concurrency = 1000;  // probes in flight at most (main budget)
  // A probe still waiting for its connect or greeting after `slow_after_ms` leaves the main
  // budget for the slow one (at most `slow_concurrency` probes), so that tarpits and blackholes
  // do not starve healthy hosts; it keeps its fd, its politeness slots and its timeouts.
  // Either 0: off. kTwiceConcurrency: 2 x `concurrency` (politeness/slot_budget.h). Tarpits
  // need (tarpits started per s) x (banner timeout - slow_after) slow slots: 625/s (one per four
  // of 2,500 healthy/s) with a 4 s timeout fill 1,875, at the edge of a budget of 2,000.
  static constexpr size_t kTwiceConcurrency = static_cast<size_t>(-1);
  size_t slow_concurrency = kTwiceConcurrency;
  uint32_t slow_after_ms = 1000;
  double rate = 200;                         // new connections per second; 0 = unlimited
  double burst = 0;                          // token bucket depth; 0 = rate / 20 (at least 1)
  politeness::ConcurrencyGate::Limits caps;  // per address and per /24 (/48)
  CidrSet blocklist;                         // never contacted (outcome blocked)
  bool allow_private = false;                // else private/loopback/reserved ranges are blocked
  uint16_t default_port = 25;                // for targets with port 0
  // TLS: a shared handshake context and verifier; created from the fields below when null.
  std::shared_ptr<tls::ClientContext> tls_context;
  std::shared_ptr<tls::ChainVerifier> verifier;
  std::string ca_file;       // extra trusted CAs (PEM) for chain_valid
  bool system_trust = true;  // also trust the system store
};

// The slow budget's size with kTwiceConcurrency resolved; 0 when it is off.
inline size_t ResolvedSlowConcurrency(const ProbeEngineOptions& o) {
  if (o.slow_after_ms == 0) return 0;
  return o.slow_concurrency == ProbeEngineOptions::kTwiceConcurrency ? 2 * o.concurrency
                                                                     : o.slow_concurrency;
}

// One thread's share of the slow budget when `threads` engines split the totals.
inline size_t PerThreadSlowConcurrency(const ProbeEngineOptions& o, int threads) {
  size_t total = ResolvedSlowConcurrency(o);
  if (total == 0) return 0;
  return std::max<size_t>(1, total / static_cast<size_t>(std::max(1, threads)));
}

struct ProbeEngineStats {
  uint64_t submitted = 0;
  uint64_t started = 0;    // connections opened
  uint64_t completed = 0;  // done callbacks run
  uint64_t tls_handshakes = 0;
  uint64_t moved_to_slow = 0;       // probes that left the main budget while waiting
  uint64_t deadlines_extended = 0;  // given more time: a stall, or an answer not yet read
};

// Runs many probes concurrently on one libuv loop, with the politeness rules applied (rate,
// concurrency, one connection per address, a cap per /24 and /48, blocklist, reserved ranges).
// Loop thread only: every method must be called on the thread running `loop`.
// Destroy it only when in_flight() is 0 (after Shutdown's on_idle), then run the loop until
// its close callbacks have run.
class ProbeEngine {
 public:
  static absl::StatusOr<std::unique_ptr<ProbeEngine>> Create(uv_loop_t* loop,
                                                             ProbeEngineOptions opts);
  ~ProbeEngine();
  ProbeEngine(const ProbeEngine&) = delete;
  ProbeEngine& operator=(const ProbeEngine&) = delete;

  struct Target {
    std::string ip;     // IPv4 or IPv6 literal
    uint16_t port = 0;  // 0: options.default_port
    std::string name;   // MX name: SNI and the certificate name check
    std::string tag;
    uint64_t target_id = 0;
  };
  using DoneFn = std::function<void(ProbeResult&&)>;

  // Queues a target. `done` runs exactly once, on the loop thread, never inside Submit().
  // Blocked targets (blocklist, reserved range) complete with outcome `blocked`, an invalid IP
  // with `connect_failed`, both without any packet sent.
  void Submit(Target target, DoneFn done);
  size_t in_flight() const;  // both budgets
  size_t slow() const;       // of which in the slow budget
  size_t queued() const;
  ProbeEngineStats stats() const;

  // Stops starting new probes. Probes in flight run to their end. Targets still queued complete
  // (from the loop, not inside this call) with outcome `blocked`, stage `connect` and error
  // "not probed: engine shut down" (nothing was sent to them; a distributed caller should hand
  // them back rather than store them). `on_idle` runs once nothing is in flight or queued.
  void Shutdown(std::function<void()> on_idle);

 private:
  class Impl;  // worker/net/probe_engine.cc: the libuv side lives under worker/net/
  explicit ProbeEngine(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace mxcensus::probe
