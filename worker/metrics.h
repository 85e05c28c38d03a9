#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <memory>

#include "common/outcome.h"

namespace mxcensus::worker {

// Every metric a worker exports, registered once; label children resolved up front because
// Family::Add locks and hashes (STYLE.md B9). Thread-safe to update.
struct WorkerMetrics {
  explicit WorkerMetrics(std::shared_ptr<prometheus::Registry> registry);

  std::shared_ptr<prometheus::Registry> registry;
  std::array<prometheus::Counter*, kProbeOutcomeCount> probes;         // {outcome}
  std::array<prometheus::Counter*, kDnsStatusCount> domains;           // {status}
  std::array<prometheus::Histogram*, kProbeStageCount> stage_seconds;  // {stage}
  prometheus::Histogram* probe_seconds;
  prometheus::Counter* tls_ok;
  prometheus::Counter* results_sent;
  prometheus::Counter* results_acked;
  prometheus::Counter* reconnects;
  prometheus::Gauge* unacked;
  prometheus::Gauge* shards_in_progress;
};

}  // namespace mxcensus::worker
