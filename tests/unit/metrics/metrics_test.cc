// The metric definitions of both binaries: the names dashboards rely on exist from start-up,
// one registry can hold both sides (as `scan` does) without duplicate families, and a probe
// result or DNS reply lands in the right labelled child.
#include "coordinator/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "worker/metrics.h"

namespace mxcensus {
namespace {

std::string Serialize(prometheus::Registry& registry) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry.Collect());
  return out.str();
}

// "# TYPE name type" lines: family name -> how often it appears.
std::map<std::string, int> TypeLines(const std::string& text) {
  std::map<std::string, int> n;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) == 0) ++n[line.substr(7, line.find(' ', 7) - 7)];
  }
  return n;
}

double Value(prometheus::Counter* c) { return c->Value(); }

TEST(Metrics, BothSidesOnOneRegistryExportTheCoreSetOnce) {
  auto registry = std::make_shared<prometheus::Registry>();
  worker::WorkerMetrics w(registry);
  coordinator::CoordinatorMetrics c(registry);
  const auto types = TypeLines(Serialize(*registry));
  for (const auto& [name, count] : types) EXPECT_EQ(count, 1) << name;
  for (const char* name : {"mxcensus_probes_total",
                           "mxcensus_probe_stage_duration_seconds",
                           "mxcensus_probes_in_flight",
                           "mxcensus_probes_slow",
                           "mxcensus_probes_moved_slow_total",
                           "mxcensus_probe_deadlines_extended_total",
                           "mxcensus_tls_handshakes_total",
                           "mxcensus_dns_queries_total",
                           "mxcensus_dns_retries_total",
                           "mxcensus_results_sent_total",
                           "mxcensus_results_acked_total",
                           "mxcensus_rpc_stream_reconnects_total",
                           "mxcensus_storage_copy_rows_total",
                           "mxcensus_storage_copy_duration_seconds",
                           "mxcensus_shards",
                           "mxcensus_workers_connected",
                           "mxcensus_crawl_progress_ratio",
                           "mxcensus_build_info",
                           "mxcensus_internal_bugs_total",
                           "mxcensus_batches_refused_total"}) {
    EXPECT_TRUE(types.count(name)) << name << " is not exported";
  }
  for (const auto& [name, count] : types) {
    EXPECT_EQ(name.rfind("mxcensus_", 0), 0u) << name;
  }
}

TEST(Metrics, EveryLabelledChildExistsBeforeTheFirstEvent) {
  auto registry = std::make_shared<prometheus::Registry>();
  worker::WorkerMetrics w(registry);
  coordinator::CoordinatorMetrics c(registry);
  const std::string text = Serialize(*registry);
  for (const char* series :
       {"mxcensus_probes_total{outcome=\"starttls_ok\"} 0",
        "mxcensus_tls_handshakes_total{result=\"timeout\",version=\"unknown\"} 0",
        "mxcensus_dns_queries_total{result=\"nxdomain\",type=\"MX\"} 0",
        "mxcensus_shards{kind=\"probe\",state=\"leased\"} 0",
        "mxcensus_crawl_progress_ratio{stage=\"resolve\"} 0",
        "mxcensus_internal_bugs_total{site=\"worker_assignment\"} 0",
        "mxcensus_internal_bugs_total{site=\"ingest_sql\"} 0"}) {
    EXPECT_NE(text.find(series), std::string::npos) << series << " missing in\n" << text;
  }
}

TEST(Metrics, ProbeResultCountsOutcomeStagesAndHandshake) {
  worker::WorkerMetrics m(std::make_shared<prometheus::Registry>());
  ProbeResult ok;
  ok.outcome = ProbeOutcome::kStartTlsOk;
  ok.stage = ProbeStage::kQuit;
  ok.tls.emplace();
  ok.tls->version = "TLSv1.2";
  ok.tls->handshake_complete = true;
  ok.timing_ms.connect = 1.5;
  ok.timing_ms.tls = 20;
  m.ObserveProbe(ok);
  ProbeResult slow;
  slow.outcome = ProbeOutcome::kTimeout;
  slow.stage = ProbeStage::kTls;
  m.ObserveProbe(slow);
  ProbeResult alert = ok;
  alert.outcome = ProbeOutcome::kTlsFailed;
  alert.tls->version = "";
  alert.tls->handshake_complete = false;
  m.ObserveProbe(alert);

  EXPECT_EQ(Value(m.probes[static_cast<size_t>(ProbeOutcome::kStartTlsOk)]), 1);
  EXPECT_EQ(Value(m.probes[static_cast<size_t>(ProbeOutcome::kTimeout)]), 1);
  EXPECT_EQ(Value(m.tls_handshakes[1][0]), 1);  // TLSv1.2 ok
  EXPECT_EQ(Value(m.tls_handshakes[5][2]), 1);  // unknown timeout
  EXPECT_EQ(Value(m.tls_handshakes[5][1]), 1);  // unknown failed
  const auto tls = m.stage_seconds[static_cast<size_t>(ProbeStage::kTls)]->Collect();
  EXPECT_EQ(tls.histogram.sample_count, 2u);
  EXPECT_DOUBLE_EQ(tls.histogram.sample_sum, 0.040);
  EXPECT_EQ(
      m.stage_seconds[static_cast<size_t>(ProbeStage::kEhlo)]->Collect().histogram.sample_count,
      0u);
}

// A DNS response header: id, flags (rcode in the low nibble), counts.
std::vector<uint8_t> Header(int rcode, int answers) {
  return {0x12, 0x34, 0x81, static_cast<uint8_t>(0x80 | rcode),
          0,    1,    0,    static_cast<uint8_t>(answers),
          0,    0,    0,    0};
}

TEST(Metrics, DnsResultFromTheResponseHeaderElseTheStatus) {
  using dns::DnsQueryResultIndex;
  using dns::DnsQueryResultName;
  auto name = [](std::vector<uint8_t> msg, int status) {
    dns::QueryReply r;
    r.status = status;
    r.message = msg;
    return std::string(DnsQueryResultName(DnsQueryResultIndex(r)));
  };
  EXPECT_EQ(name(Header(0, 2), ARES_SUCCESS), "noerror");
  EXPECT_EQ(name(Header(0, 0), ARES_ENODATA), "nodata");
  EXPECT_EQ(name(Header(3, 0), ARES_ENOTFOUND), "nxdomain");
  EXPECT_EQ(name(Header(2, 0), ARES_ESERVFAIL), "servfail");
  EXPECT_EQ(name(Header(5, 0), ARES_EREFUSED), "refused");
  EXPECT_EQ(name(Header(4, 0), ARES_ENOTIMP), "other_rcode");
  EXPECT_EQ(name({}, ARES_ETIMEOUT), "timeout");
  EXPECT_EQ(name({}, ARES_ECONNREFUSED), "unreachable");
  EXPECT_EQ(name({}, ARES_EDESTRUCTION), "cancelled");
  EXPECT_EQ(name({}, ARES_EBADNAME), "error");
  EXPECT_EQ(dns::DnsQueryTypeName(dns::DnsQueryTypeIndex(52)), "TLSA");
  EXPECT_EQ(dns::DnsQueryTypeName(dns::DnsQueryTypeIndex(99)), "other");
}

}  // namespace
}  // namespace mxcensus
