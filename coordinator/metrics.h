#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

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
  prometheus::Family<prometheus::Gauge>* shards;          // {state, kind}
  prometheus::Family<prometheus::Gauge>* crawl_progress;  // {stage}: latest crawl, 0..1
};

}  // namespace mxcensus::coordinator
