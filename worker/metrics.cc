#include "worker/metrics.h"

#include <string>
#include <string_view>

#include "common/shared_metrics.h"
#include "worker/dns/resolver.h"
#include "worker/probe/engine.h"

namespace mxcensus::worker {
namespace {

constexpr std::string_view kTlsVersions[kTlsVersionCount] = {"TLSv1.3", "TLSv1.2", "TLSv1.1",
                                                             "TLSv1",   "SSLv3",   "unknown"};
constexpr std::string_view kTlsResults[kTlsResultCount] = {"ok", "failed", "timeout"};

size_t TlsVersionIndex(const std::string& v) {
  for (size_t i = 0; i + 1 < kTlsVersionCount; ++i) {
    if (v == kTlsVersions[i]) return i;
  }
  return kTlsVersionCount - 1;
}

// Adds what a loop's counter gained since the last publication.
void AddDelta(prometheus::Counter* c, uint64_t now, uint64_t& last) {
  if (now > last) c->Increment(static_cast<double>(now - last));
  last = now;
}

void SetShare(prometheus::Gauge* g, double now, double& last) {
  if (now != last) g->Increment(now - last);
  last = now;
}

}  // namespace

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
  auto& tls_family = BuildCounter()
                         .Name("mxcensus_tls_handshakes_total")
                         .Help("TLS handshakes after STARTTLS, by negotiated version and result")
                         .Register(*registry);
  for (size_t v = 0; v < kTlsVersionCount; ++v) {
    for (size_t r = 0; r < kTlsResultCount; ++r) {
      tls_handshakes[v][r] = &tls_family.Add(
          {{"version", std::string(kTlsVersions[v])}, {"result", std::string(kTlsResults[r])}});
    }
  }
  auto& query_family = BuildCounter()
                           .Name("mxcensus_dns_queries_total")
                           .Help("DNS queries finished, by record type and final result")
                           .Register(*registry);
  for (int t = 0; t < dns::kDnsQueryTypeCount; ++t) {
    for (int r = 0; r < dns::kDnsQueryResultCount; ++r) {
      dns_queries[static_cast<size_t>(t)][static_cast<size_t>(r)] =
          &query_family.Add({{"type", std::string(dns::DnsQueryTypeName(t))},
                             {"result", std::string(dns::DnsQueryResultName(r))}});
    }
  }
  auto& retry_family = BuildCounter()
                           .Name("mxcensus_dns_retries_total")
                           .Help(
                               "DNS queries sent again: after a timeout (same resolver) or to "
                               "another resolver (failover)")
                           .Register(*registry);
  dns_retries = &retry_family.Add({{"reason", "timeout"}});
  dns_failovers = &retry_family.Add({{"reason", "failover"}});
  probes_in_flight = &BuildGauge()
                          .Name("mxcensus_probes_in_flight")
                          .Help("Probes with a connection open or being opened")
                          .Register(*registry)
                          .Add({});
  probes_queued = &BuildGauge()
                       .Name("mxcensus_probes_queued")
                       .Help("Probes waiting for the rate limit or a concurrency slot")
                       .Register(*registry)
                       .Add({});
  probes_slow = &BuildGauge()
                     .Name("mxcensus_probes_slow")
                     .Help(
                         "Probes in flight that waited --slow-after for their connect or greeting "
                         "and moved to the slow budget (--slow-concurrency)")
                     .Register(*registry)
                     .Add({});
  probes_moved_slow = &BuildCounter()
                           .Name("mxcensus_probes_moved_slow_total")
                           .Help(
                               "Probes that left the --concurrency budget for the slow one while "
                               "waiting (tarpits, blackholes, slow greetings)")
                           .Register(*registry)
                           .Add({});
  probe_deadlines_extended =
      &BuildCounter()
           .Name("mxcensus_probe_deadlines_extended_total")
           .Help(
               "Probe deadlines given more time instead of a timeout: fired 500 ms or more late "
               "because the worker stalled (stopped, paused, starved of CPU: the whole timeout "
               "again), or with the peer's answer already waiting unread (one more poll)")
           .Register(*registry)
           .Add({});
  domains_in_flight = &BuildGauge()
                           .Name("mxcensus_dns_domains_in_flight")
                           .Help("Domains being resolved")
                           .Register(*registry)
                           .Add({});
  results_sent = &BuildCounter()
                      .Name("mxcensus_results_sent_total")
                      .Help(
                          "Results (probe and domain rows) sent to the coordinator, re-sends "
                          "included")
                      .Register(*registry)
                      .Add({});
  results_acked = &BuildCounter()
                       .Name("mxcensus_results_acked_total")
                       .Help("Results the coordinator acked after its commit")
                       .Register(*registry)
                       .Add({});
  results_refused = &BuildCounter()
                         .Name("mxcensus_results_refused_total")
                         .Help(
                             "Results the coordinator could not store as they were: acked, kept "
                             "in its refused_batch table, probed or resolved again later")
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
  bug_unknown_assignment = &InternalBugsFamily(*registry).Add({{"site", "worker_assignment"}});
  RegisterBuildInfo(*registry, "worker");
}

void WorkerMetrics::ObserveProbe(const ProbeResult& r) {
  probes[static_cast<size_t>(r.outcome)]->Increment();
  probe_seconds->Observe(r.timing_ms.total / 1000.0);
  const std::optional<double>* stages[] = {
      &r.timing_ms.connect,  &r.timing_ms.banner, &r.timing_ms.ehlo,     nullptr,
      &r.timing_ms.starttls, &r.timing_ms.tls,    &r.timing_ms.ehlo_tls, &r.timing_ms.quit};
  for (int i = 0; i < kProbeStageCount; ++i) {
    if (stages[i] && stages[i]->has_value()) {
      stage_seconds[static_cast<size_t>(i)]->Observe(**stages[i] / 1000.0);
    }
  }
  if (r.tls) {
    tls_handshakes[TlsVersionIndex(r.tls->version)][r.tls->handshake_complete ? 0 : 1]->Increment();
  } else if (r.outcome == ProbeOutcome::kTimeout && r.stage == ProbeStage::kTls) {
    tls_handshakes[kTlsVersionCount - 1][2]->Increment();
  }
}

void WorkerMetrics::Publish(LoopMetricsCursor& c, const probe::ProbeEngine* engine,
                            const dns::DomainResolver* resolver) {
  if (engine != nullptr) {
    SetShare(probes_in_flight, static_cast<double>(engine->in_flight()), c.probes_in_flight);
    SetShare(probes_queued, static_cast<double>(engine->queued()), c.probes_queued);
    SetShare(probes_slow, static_cast<double>(engine->slow()), c.probes_slow);
    const probe::ProbeEngineStats stats = engine->stats();
    AddDelta(probes_moved_slow, stats.moved_to_slow, c.probes_moved_slow);
    AddDelta(probe_deadlines_extended, stats.deadlines_extended, c.probe_deadlines_extended);
  }
  if (resolver != nullptr) {
    SetShare(domains_in_flight, static_cast<double>(resolver->in_flight()), c.domains_in_flight);
    const auto& q = resolver->stats().queries;
    AddDelta(dns_retries, q.retries, c.dns_retries);
    AddDelta(dns_failovers, q.failovers, c.dns_failovers);
    for (size_t t = 0; t < dns::kDnsQueryTypeCount; ++t) {
      for (size_t r = 0; r < dns::kDnsQueryResultCount; ++r) {
        AddDelta(dns_queries[t][r], q.by_type_result[t][r], c.queries[t][r]);
      }
    }
  }
}

void WorkerMetrics::Retire(LoopMetricsCursor& c) {
  SetShare(probes_in_flight, 0, c.probes_in_flight);
  SetShare(probes_queued, 0, c.probes_queued);
  SetShare(probes_slow, 0, c.probes_slow);
  SetShare(domains_in_flight, 0, c.domains_in_flight);
}

}  // namespace mxcensus::worker
