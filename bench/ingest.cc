// Ingestion rate of the coordinator's merge path alone: result batches COPYed into staging and
// merged into `probe` (and `certificate`) by CrawlStore::IngestProbes, against a real server.
//   bench_ingest DSN [ROWS=200000] [BATCH=1000] [merge]
// `merge` turns the fast path off: every batch goes through staging and the merge.
// Prints rows/s for fresh rows and for a full re-delivery (which must insert nothing), in wall
// time and per CPU second (this process + its PostgreSQL backend, read from /proc: the server
// must be local). On a machine shared with other work the CPU figure is the stable one.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "bench/proc_cpu.h"
#include "storage/crawl_store.h"
#include "storage/db.h"
#include "storage/migrations.h"

using namespace mxcensus;

namespace {

ProbeResult Sample(int i) {
  ProbeResult r;
  r.ip = "10." + std::to_string((i >> 16) & 255) + "." + std::to_string((i >> 8) & 255) + "." +
         std::to_string(i & 255);
  r.port = 25;
  r.name = "mx" + std::to_string(i % 5000) + ".provider" + std::to_string(i % 97) + ".example";
  r.outcome = ProbeOutcome::kStartTlsOk;
  r.stage = ProbeStage::kQuit;
  r.banner = "220 " + r.name + " ESMTP Postfix";
  r.ehlo = {r.name, "PIPELINING", "SIZE 10240000", "STARTTLS", "8BITMIME"};
  r.codes.banner = 220;
  r.codes.ehlo = 250;
  r.codes.starttls = 220;
  TlsFacts t;
  t.version = "TLSv1.3";
  t.cipher = "TLS_AES_256_GCM_SHA384";
  t.group = "x25519";
  // Chains repeat across hosts, as they do on the Internet: 500 distinct leaves, one issuer.
  t.chain_der = {std::string(600, static_cast<char>('a' + i % 26)) + std::to_string(i % 500),
                 std::string(900, 'I')};
  CertSummary leaf;
  leaf.subject = "CN=" + r.name;
  leaf.issuer = "CN=bench CA";
  leaf.sans = {r.name};
  leaf.not_before = 1767225600;
  leaf.not_after = 1798761600;
  leaf.key_type = "ec";
  leaf.key_bits = 256;
  leaf.sig_alg = "ecdsa-with-SHA256";
  t.leaf = leaf;
  t.chain_valid = true;
  t.name_match = true;
  t.handshake_complete = true;
  r.tls = t;
  r.timing_ms.connect = 0.2;
  r.timing_ms.total = 5.0;
  r.started_at_ms = 1795867200000 + i;
  return r;
}

double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_ingest DSN [ROWS] [BATCH] [merge]\n");
    return 2;
  }
  const std::string dsn = argv[1];
  const int rows = argc > 2 ? atoi(argv[2]) : 200000;
  const int batch = argc > 3 ? atoi(argv[3]) : 1000;
  {
    auto c = storage::Connect(dsn);
    if (!c.ok() || !storage::Migrate(**c).ok()) {
      fprintf(stderr, "cannot migrate %s\n", dsn.c_str());
      return 1;
    }
  }
  // The store's connection is found by its application name, to read its backend's CPU time.
  storage::CrawlStore store(dsn + " application_name=mxcensus-bench-ingest");
  const bool merge_only = argc > 4 && std::string(argv[4]) == "merge";
  store.set_ingest_fast_path(!merge_only);
  storage::CrawlSpec spec;
  spec.name = "bench-ingest";
  auto id = store.CreateCrawl(spec, {});
  if (!id.ok()) return 1;
  storage::LeaseRef ref{*id, storage::ShardKind::kProbe, 0, 0};
  std::vector<std::vector<ProbeResult>> batches;
  for (int i = 0; i < rows; i += batch) {
    std::vector<ProbeResult> b;
    for (int j = i; j < std::min(rows, i + batch); ++j) b.push_back(Sample(j));
    batches.push_back(std::move(b));
  }
  int backend = 0;
  {
    auto c = storage::Connect(dsn);
    if (c.ok()) {
      pqxx::work tx(**c);
      auto r = tx.exec(
          "SELECT pid FROM pg_stat_activity WHERE application_name = 'mxcensus-bench-ingest' "
          "ORDER BY backend_start DESC LIMIT 1");
      if (!r.empty()) backend = r[0][0].as<int>();
    }
  }
  for (int pass = 0; pass < 2; ++pass) {
    const double cpu0 = SelfCpuSeconds(), server0 = bench::ProcessCpuSeconds(backend);
    const auto start = std::chrono::steady_clock::now();
    int64_t inserted = 0;
    for (const auto& b : batches) {
      auto r = store.IngestProbes(ref, b, false, "bench");
      if (!r.ok()) {
        fprintf(stderr, "ingest: %s\n", std::string(r.status().message()).c_str());
        return 1;
      }
      inserted += r->rows_inserted;
    }
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double client = SelfCpuSeconds() - cpu0;
    const double server = server0 < 0 ? -1 : bench::ProcessCpuSeconds(backend) - server0;
    printf("%s: %d rows in %zu batches of %d: %.2f s, %.0f rows/s wall, %lld rows inserted",
           pass == 0 ? "ingest fresh      " : "ingest re-delivery", rows, batches.size(), batch, s,
           rows / s, static_cast<long long>(inserted));
    if (server >= 0) {
      printf("; CPU %.2f s client + %.2f s server = %.0f rows per CPU second", client, server,
             rows / (client + server));
    }
    printf("\n");
  }
  return 0;
}
