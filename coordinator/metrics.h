#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <memory>
#include <string>

namespace mxcensus::coordinator {

// Every metric the coordinator exports, registered once (STYLE.md B9). Thread-safe.
struct CoordinatorMetrics {
  explicit CoordinatorMetrics(std::shared_ptr<prometheus::Registry> registry);

  std::shared_ptr<prometheus::Registry> registry;
  prometheus::Counter* copy_rows_probe;
  prometheus::Counter* copy_rows_domain;
  prometheus::Histogram* copy_duration;
  prometheus::Counter* batches_acked;
  prometheus::Counter* batches_stale;
  prometheus::Counter* shards_leased;
  prometheus::Gauge* workers_connected;
  prometheus::Gauge* ingest_queue;
  prometheus::Counter* unauthenticated;
  prometheus::Counter* batches_refused;                   // kept in refused_batch and acked
  prometheus::Family<prometheus::Gauge>* shards;          // {state, kind}
  prometheus::Family<prometheus::Gauge>* crawl_progress;  // {stage}: latest crawl, 0..1
  // Children of `shards`, [kind][state] in the order of kShardKinds / kShardStates.
  static constexpr std::array<const char*, 2> kShardKinds = {"resolve", "probe"};
  static constexpr std::array<const char*, 4> kShardStates = {"pending", "leased", "done",
                                                              "failed"};
  std::array<std::array<prometheus::Gauge*, 4>, 2> shard_gauges;
  std::array<prometheus::Gauge*, 2> progress_gauges;  // [kind]
  // mxcensus_internal_bugs_total{site}: SQL the server rejected (Internal, not Unavailable).
  prometheus::Counter* bug_advance_sql;
  prometheus::Counter* bug_ingest_sql;
  prometheus::Counter* bug_lease_sql;
};

}  // namespace mxcensus::coordinator
