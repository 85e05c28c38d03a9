#include "coordinator/metrics.h"

#include "common/shared_metrics.h"

namespace mxcensus::coordinator {

CoordinatorMetrics::CoordinatorMetrics(std::shared_ptr<prometheus::Registry> reg)
    : registry(std::move(reg)) {
  using namespace prometheus;
  auto& rows = BuildCounter()
                   .Name("mxcensus_storage_copy_rows_total")
                   .Help("Result rows merged into PostgreSQL (new rows only), by table")
                   .Register(*registry);
  copy_rows_probe = &rows.Add({{"table", "probe"}});
  copy_rows_domain = &rows.Add({{"table", "crawl_domain"}});
  copy_duration = &BuildHistogram()
                       .Name("mxcensus_storage_copy_duration_seconds")
                       .Help("Time to COPY and merge one result batch")
                       .Register(*registry)
                       .Add({}, Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                            0.1, 0.25, 0.5, 1, 2.5});
  // Not mxcensus_results_acked_total: that is the worker's (results, not batches), and `scan`
  // serves both on one registry.
  auto& acked = BuildCounter()
                    .Name("mxcensus_ingest_batches_total")
                    .Help("Result batches committed and acked to workers, by lease freshness")
                    .Register(*registry);
  batches_acked = &acked.Add({{"lease", "current"}});
  batches_stale = &acked.Add({{"lease", "stale"}});
  shards_leased = &BuildCounter()
                       .Name("mxcensus_shards_leased_total")
                       .Help("Shard leases handed to workers")
                       .Register(*registry)
                       .Add({});
  workers_connected = &BuildGauge()
                           .Name("mxcensus_workers_connected")
                           .Help("Worker streams currently open")
                           .Register(*registry)
                           .Add({});
  ingest_queue = &BuildGauge()
                      .Name("mxcensus_ingest_queue")
                      .Help("Database tasks waiting (ingest lag)")
                      .Register(*registry)
                      .Add({});
  unauthenticated = &BuildCounter()
                         .Name("mxcensus_rpc_unauthenticated_total")
                         .Help("Calls refused for a missing or wrong token")
                         .Register(*registry)
                         .Add({});
  batches_refused =
      &BuildCounter()
           .Name("mxcensus_batches_refused_total")
           .Help(
               "Result batches that could not be stored as they were: kept in refused_batch "
               "and acked")
           .Register(*registry)
           .Add({});
  shards = &BuildGauge()
                .Name("mxcensus_shards")
                .Help("Shards of crawls not over yet, by kind and state")
                .Register(*registry);
  crawl_progress = &BuildGauge()
                        .Name("mxcensus_crawl_progress_ratio")
                        .Help("Items done / items of the newest crawl, by stage (0..1)")
                        .Register(*registry);
  for (size_t k = 0; k < kShardKinds.size(); ++k) {
    for (size_t st = 0; st < kShardStates.size(); ++st) {
      shard_gauges[k][st] = &shards->Add({{"kind", kShardKinds[k]}, {"state", kShardStates[st]}});
    }
    progress_gauges[k] = &crawl_progress->Add({{"stage", kShardKinds[k]}});
  }
  auto& bugs = InternalBugsFamily(*registry);
  bug_advance_sql = &bugs.Add({{"site", "advance_sql"}});
  bug_ingest_sql = &bugs.Add({{"site", "ingest_sql"}});
  bug_lease_sql = &bugs.Add({{"site", "lease_sql"}});
  RegisterBuildInfo(*registry, "coordinator");
}

}  // namespace mxcensus::coordinator
