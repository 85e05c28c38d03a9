#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <cstdint>
#include <memory>

#include "common/outcome.h"
#include "common/probe_result.h"
#include "worker/dns/query_pool.h"

namespace mxcensus::probe {
class ProbeEngine;
}
namespace mxcensus::dns {
class DomainResolver;
}

namespace mxcensus::worker {

// TLS versions as a closed label set: the names TlsFacts::version uses, then "unknown".
inline constexpr int kTlsVersionCount = 6;
// ok (handshake complete), failed (alert, bad data, closed), timeout.
inline constexpr int kTlsResultCount = 3;

// What one loop thread last published of its engine's and resolver's own counters (they live
// on the loop, unsynchronised): each publication adds the difference. Loop thread only.
struct LoopMetricsCursor {
  double probes_in_flight = 0, probes_queued = 0, probes_slow = 0, domains_in_flight = 0;
  uint64_t probes_moved_slow = 0, probe_deadlines_extended = 0, dns_retries = 0, dns_failovers = 0;
  std::array<std::array<uint64_t, dns::kDnsQueryResultCount>, dns::kDnsQueryTypeCount> queries{};
};

// Every metric a worker exports (docs/metrics.md), registered once, label children resolved up
// front because Family::Add locks and hashes (STYLE.md B9). Updates are lock-free and
// allocation-free, from any thread.
struct WorkerMetrics {
  explicit WorkerMetrics(std::shared_ptr<prometheus::Registry> registry);

  // One finished probe: outcome, stage durations, TLS handshake. Increments only.
  void ObserveProbe(const ProbeResult& r);
  // Called on a loop thread every batch interval: in-flight gauges and the DNS query counters
  // of that loop's engine and resolver (either may be null).
  void Publish(LoopMetricsCursor& cursor, const probe::ProbeEngine* engine,
               const dns::DomainResolver* resolver);
  // The loop is going away: take its share out of the gauges.
  void Retire(LoopMetricsCursor& cursor);

  std::shared_ptr<prometheus::Registry> registry;
  std::array<prometheus::Counter*, kProbeOutcomeCount> probes;         // {outcome}
  std::array<prometheus::Counter*, kDnsStatusCount> domains;           // {status}
  std::array<prometheus::Histogram*, kProbeStageCount> stage_seconds;  // {stage}
  prometheus::Histogram* probe_seconds;
  std::array<std::array<prometheus::Counter*, kTlsResultCount>, kTlsVersionCount>
      tls_handshakes;  // {version, result}
  std::array<std::array<prometheus::Counter*, dns::kDnsQueryResultCount>, dns::kDnsQueryTypeCount>
      dns_queries;                     // {type, result}
  prometheus::Counter* dns_retries;    // {reason="timeout"}
  prometheus::Counter* dns_failovers;  // {reason="failover"}
  prometheus::Gauge* probes_in_flight;
  prometheus::Gauge* probes_queued;
  prometheus::Gauge* probes_slow;                 // of probes_in_flight, those in the slow budget
  prometheus::Counter* probes_moved_slow;         // probes that left the main budget while waiting
  prometheus::Counter* probe_deadlines_extended;  // given more time: a stall, an unread answer
  prometheus::Gauge* domains_in_flight;
  prometheus::Counter* results_sent;     // results (probe and domain rows), re-sends included
  prometheus::Counter* results_acked;    // results the coordinator committed
  prometheus::Counter* results_refused;  // results the coordinator kept aside, not stored
  prometheus::Counter* reconnects;
  prometheus::Gauge* unacked;
  prometheus::Gauge* shards_in_progress;
  prometheus::Counter* bug_unknown_assignment;  // internal_bugs_total{site="worker_assignment"}
};

}  // namespace mxcensus::worker
