#include "worker/metrics.h"

#include "common/version.h"

namespace mxcensus::worker {

WorkerMetrics::WorkerMetrics(std::shared_ptr<prometheus::Registry> reg) : registry(std::move(reg)) {
  using namespace prometheus;
  auto& probe_family = BuildCounter()
                           .Name("mxcensus_probes_total")
                           .Help("Probes finished, by outcome")
                           .Register(*registry);
  for (int i = 0; i < kProbeOutcomeCount; ++i) {
    probes[static_cast<size_t>(i)] =
        &probe_family.Add({{"outcome", std::string(OutcomeName(static_cast<ProbeOutcome>(i)))}});
  }
  auto& dns_family = BuildCounter()
                         .Name("mxcensus_dns_domains_total")
                         .Help("Domains resolved, by DNS status")
                         .Register(*registry);
  for (int i = 0; i < kDnsStatusCount; ++i) {
    domains[static_cast<size_t>(i)] =
        &dns_family.Add({{"status", std::string(DnsStatusName(static_cast<DnsStatus>(i)))}});
  }
  auto& stage_family = BuildHistogram()
                           .Name("mxcensus_probe_stage_duration_seconds")
                           .Help("Time spent in each probe stage")
                           .Register(*registry);
  const Histogram::BucketBoundaries buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                            0.25,   0.5,   1,      2.5,   5,    10,    30};
  for (int i = 0; i < kProbeStageCount; ++i) {
    stage_seconds[static_cast<size_t>(i)] =
        &stage_family.Add({{"stage", std::string(StageName(static_cast<ProbeStage>(i)))}}, buckets);
  }
  probe_seconds = &BuildHistogram()
                       .Name("mxcensus_probe_duration_seconds")
                       .Help("Whole probe, connect to result")
                       .Register(*registry)
                       .Add({}, buckets);
  tls_ok = &BuildCounter()
                .Name("mxcensus_tls_handshakes_total")
                .Help("Completed TLS handshakes")
                .Register(*registry)
                .Add({});
  results_sent = &BuildCounter()
                      .Name("mxcensus_results_sent_total")
                      .Help("Result batches sent to the coordinator (re-sends included)")
                      .Register(*registry)
                      .Add({});
  results_acked = &BuildCounter()
                       .Name("mxcensus_worker_results_acked_total")
                       .Help("Result batches the coordinator acked after its commit")
                       .Register(*registry)
                       .Add({});
  reconnects = &BuildCounter()
                    .Name("mxcensus_rpc_stream_reconnects_total")
                    .Help("Times the stream to the coordinator was re-opened")
                    .Register(*registry)
                    .Add({});
  unacked = &BuildGauge()
                 .Name("mxcensus_unacked_batches")
                 .Help("Result batches kept until the coordinator acks them")
                 .Register(*registry)
                 .Add({});
  shards_in_progress = &BuildGauge()
                            .Name("mxcensus_worker_shards_in_progress")
                            .Help("Shards this worker is working on")
                            .Register(*registry)
                            .Add({});
  BuildGauge()
      .Name("mxcensus_build_info")
      .Help("Build information")
      .Register(*registry)
      .Add({{"version", kVersion}, {"git_sha", kGitSha}, {"component", "worker"}})
      .Set(1);
}

}  // namespace mxcensus::worker
