// Ingestion rate of the coordinator's merge path alone: result batches of many shards posted to
// the coordinator's DbExecutor, the same writers (connections) and grouping of queued batches
// into one transaction as `mxcensus coordinator` uses, against a real server.
//   bench_ingest DSN [ROWS=200000] [BATCH=1000] [merge] [unleased] [writers=N] [group=ROWS]
// `merge` turns the fast path off: every batch goes through staging and the merge. `unleased`:
// the coordinator does not know the shards' targets from leasing them (as after a restart), so
// every result is checked against `target` by a query. `writers`
// (default: the coordinator's) is the number of ingesting connections, `group` the most rows
// of queued batches ingested in one transaction (1: every batch alone). All batches are posted
// at once: a coordinator with a backlog, which is when its ingestion rate matters.
// Prints rows/s for fresh rows and for a full re-delivery (which must insert nothing), in wall
// time and per CPU second (this process + its PostgreSQL backends, read from /proc: the server
// must be local). On a machine shared with other work the CPU figure is the stable one.
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "bench/proc_cpu.h"
#include "coordinator/core.h"
#include "coordinator/db_executor.h"
#include "storage/copy_row.h"
#include "storage/crawl_store.h"
#include "storage/db.h"
#include "storage/migrations.h"
#include "worker/tls/session_facts.h"

using namespace mxcensus;

namespace {

// The result for target i + 1 of the crawl (its target_id: the crawl's targets are 1..rows).
ProbeResult Sample(int i) {
  ProbeResult r;
  r.target_id = static_cast<uint64_t>(i) + 1;
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
  // Chains repeat across hosts, as they do on the Internet: 6,500 distinct leaves (the pairs of
  // i % 26 and i % 500), one issuer.
  t.chain_der = {std::string(600, static_cast<char>('a' + i % 26)) + std::to_string(i % 500),
                 std::string(900, 'I')};
  // With each element's SHA-256, as a worker sends them (worker/rpc/session_client.cc). Every
  // DER is sent too, as a worker does before the coordinator has acked one with it.
  for (const auto& der : t.chain_der) t.chain_sha256.push_back(tls::Sha256Digest(der));
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
    fprintf(stderr,
            "usage: bench_ingest DSN [ROWS] [BATCH] [merge] [unleased] [writers=N] [group=ROWS]\n");
    return 2;
  }
  const std::string dsn = argv[1];
  const int rows = argc > 2 ? atoi(argv[2]) : 200000;
  const int batch = argc > 3 ? atoi(argv[3]) : 1000;
  bool merge_only = false;
  bool unleased = false;
  int writers = coordinator::CoordinatorOptions().db_writers;
  size_t group = coordinator::DbExecutor::kMaxGroupRows;
  for (int i = 4; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "merge") {
      merge_only = true;
    } else if (a == "unleased") {
      unleased = true;
    } else if (a.rfind("writers=", 0) == 0) {
      writers = atoi(a.c_str() + 8);
    } else if (a.rfind("group=", 0) == 0) {
      group = static_cast<size_t>(atol(a.c_str() + 6));
    } else {
      fprintf(stderr, "bench_ingest: unknown argument '%s'\n", a.c_str());
      return 2;
    }
  }
  if (rows <= 0 || batch <= 0 || writers <= 0) {
    fprintf(stderr, "bench_ingest: ROWS, BATCH and writers must be positive\n");
    return 2;
  }
  {
    auto c = storage::Connect(dsn);
    if (!c.ok() || !storage::Migrate(**c).ok()) {
      fprintf(stderr, "cannot migrate %s\n", dsn.c_str());
      return 1;
    }
  }
  // The writers' connections are found by their application name, to read their backends' CPU.
  const std::string app = "mxcensus-bench-ingest-" + std::to_string(getpid());
  int64_t crawl_id = 0;
  {
    storage::CrawlStore store(dsn);
    storage::CrawlSpec spec;
    spec.name = "bench-ingest";
    auto id = store.CreateCrawl(spec, {});
    if (!id.ok()) return 1;
    crawl_id = *id;
  }
  // Batches of many shards, as from several workers: the writers share them out by shard.
  constexpr int kShards = 64;
  // The batches; batch b is of shard b % kShards. As a crawl's derivation does
  // (storage/crawl_queries.cc), the even shards get the first slot's target ids (up to `split`)
  // and the odd ones the second's, each shard's consecutive.
  const int nbatches = (rows + batch - 1) / batch;
  std::vector<std::vector<ProbeResult>> batches(static_cast<size_t>(nbatches));
  int64_t split = 0;
  {
    int next = 0;  // the next Sample index, i.e. target id - 1
    for (int parity = 0; parity < 2; ++parity) {
      for (int b = parity; b < nbatches; b += 2) {
        const int n = std::min(batch, rows - b * batch);
        for (int j = 0; j < n; ++j) batches[static_cast<size_t>(b)].push_back(Sample(next++));
      }
      if (parity == 0) split = next;
    }
  }
  {
    // The shards exist and are leased (token 0, the batches' token), as in a crawl: each batch
    // then locks its shard and records its progress, as the coordinator's batches do.
    auto c = storage::Connect(dsn);
    if (!c.ok()) return 1;
    pqxx::work tx(**c);
    tx.exec_params(
        "INSERT INTO shard (crawl_id, kind, shard_id, state, items, lease_owner, lease_until) "
        "SELECT $1, 'probe', g, 'leased', $2, 'bench', now() + interval '1 day' "
        "FROM generate_series(0, $3 - 1) g",
        crawl_id, (rows + kShards - 1) / kShards, kShards);
    // The crawl's targets, as derived in a crawl: each result is one of its shard's targets
    // (batch b goes to shard b % kShards). The coordinator checks results against them.
    {
      storage::CopyWriter w(tx, "target",
                            {"crawl_id", "target_id", "ip", "port", "mx_name", "shard_id"});
      storage::CopyRow row;
      for (size_t b = 0; b < batches.size(); ++b) {
        for (const ProbeResult& r : batches[b]) {
          row.Clear();
          row.Add(crawl_id).Add(static_cast<int64_t>(r.target_id)).Add(r.ip).Add(int{r.port});
          row.Add(r.name).Add(static_cast<int>(b % kShards));
          row.WriteTo(w);
        }
      }
      w.Complete();
    }
    tx.exec_params("SELECT mxcensus_create_probe_slots($1, $2)", crawl_id, split);
    tx.exec_params("UPDATE crawl SET targets_total = $2 WHERE crawl_id = $1", crawl_id, rows);
    tx.commit();
    pqxx::nontransaction(**c).exec("ANALYZE target");
  }
  auto shard_of = [&](size_t i) {
    return storage::LeaseRef{crawl_id, storage::ShardKind::kProbe, static_cast<int>(i % kShards),
                             0};
  };
  coordinator::DbExecutor db(dsn + " application_name=" + app, writers, group);
  if (!unleased) {
    // What leasing the shards tells the coordinator in a crawl: each shard's targets.
    std::vector<std::vector<storage::TargetRow>> targets(kShards);
    for (size_t b = 0; b < batches.size(); ++b) {
      for (const ProbeResult& r : batches[b]) {
        targets[b % kShards].push_back({static_cast<int64_t>(r.target_id), r.ip, r.port, r.name});
      }
    }
    for (int k = 0; k < kShards; ++k) db.lease_targets().Add(crawl_id, k, targets[k]);
  }
  std::mutex mu;
  std::condition_variable cv;
  size_t pending = 0;
  std::string error;
  auto finished = [&] {
    std::lock_guard lock(mu);
    if (--pending == 0) cv.notify_all();
  };
  auto wait = [&] {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return pending == 0; });
  };
  // Every writer connects (and learns the path to take) before the clock starts.
  pending = kShards;
  for (int i = 0; i < kShards; ++i) {
    db.PostForShard(shard_of(static_cast<size_t>(i)), [&](storage::CrawlStore& s) {
      s.set_ingest_fast_path(!merge_only);
      if (!s.GetCrawl(crawl_id).ok()) {
        std::lock_guard lock(mu);
        error = "cannot read the crawl";
      }
      finished();
    });
  }
  wait();
  if (!error.empty()) {
    fprintf(stderr, "bench_ingest: %s\n", error.c_str());
    return 1;
  }
  std::vector<long> backends;
  {
    auto c = storage::Connect(dsn);
    if (c.ok()) {
      pqxx::work tx(**c);
      for (const auto& row :
           tx.exec_params("SELECT pid FROM pg_stat_activity WHERE application_name = $1", app)) {
        backends.push_back(row[0].as<long>());
      }
    }
  }
  auto server_cpu = [&] {
    double sum = 0;
    for (long pid : backends) {
      const double s = bench::ProcessCpuSeconds(pid);
      if (s < 0) return -1.0;
      sum += s;
    }
    return backends.empty() ? -1.0 : sum;
  };
  printf("%d writers (connections), up to %zu rows per transaction, %s, %s\n", writers, group,
         merge_only ? "merge path only" : "fast path",
         unleased ? "targets checked by query" : "targets known from the leases");
  for (int pass = 0; pass < 2; ++pass) {
    std::atomic<int64_t> inserted{0};
    // Built before the clock starts: in the coordinator they come from the worker's messages.
    std::vector<coordinator::DbExecutor::ProbeIngest> posts(batches.size());
    for (size_t i = 0; i < batches.size(); ++i) {
      auto& in = posts[i];
      in.lease = shard_of(i);
      in.results = batches[i];
      in.worker = "bench";
      in.done = [&](const absl::StatusOr<storage::IngestResult>& r) {
        if (r.ok()) {
          inserted += r->rows_inserted;
        } else {
          std::lock_guard lock(mu);
          error = std::string(r.status().message());
        }
        finished();
      };
    }
    // The backends' CPU is read first: reading /proc allocates, and a malloc here may
    // consolidate the heap the posts just filled, which is not the coordinator's work.
    const double server0 = server_cpu();
    const double cpu0 = SelfCpuSeconds();
    const auto start = std::chrono::steady_clock::now();
    pending = batches.size();
    for (auto& in : posts) db.PostIngest(std::move(in));
    wait();
    if (!error.empty()) {
      fprintf(stderr, "ingest: %s\n", error.c_str());
      return 1;
    }
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double client = SelfCpuSeconds() - cpu0;
    const double server = server0 < 0 ? -1 : server_cpu() - server0;
    printf("%s: %d rows in %zu batches of %d: %.2f s, %.0f rows/s wall, %lld rows inserted",
           pass == 0 ? "ingest fresh      " : "ingest re-delivery", rows, batches.size(), batch, s,
           rows / s, static_cast<long long>(inserted.load()));
    if (server >= 0) {
      printf("; CPU %.2f s client + %.2f s server = %.0f rows per CPU second", client, server,
             rows / (client + server));
    }
    printf("\n");
  }
  return 0;
}
