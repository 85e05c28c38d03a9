// The crawl lifecycle in PostgreSQL alone (no gRPC): leases, fenced and idempotent ingestion,
// target derivation with deduplication across domains, failure limits, cancellation.
#include "storage/crawl_store.h"

#include <gtest/gtest.h>

#include <set>

#include "storage/migrations.h"
#include "tests/harness/test_db.h"

namespace mxcensus::storage {
namespace {

using namespace std::chrono_literals;

class CrawlStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = db_.Connect();
    ASSERT_TRUE(Migrate(*c).ok());
  }
  int64_t Count(const std::string& sql) { return db_.Count(sql); }
  // The tables that hold crawl `id`'s probe rows (its partition's slots, 0009) that match
  // `where`: the list the crawl's end and its ANALYZE use.
  int64_t ProbeTables(int64_t id, const std::string& where) {
    return Count("SELECT count(*) FROM mxcensus_probe_tables(" + std::to_string(id) +
                 ") t JOIN pg_class c ON c.oid = t WHERE " + where);
  }
  // How many of them have autovacuum off (0007: while the crawl runs).
  int64_t AutovacuumOff(int64_t id) {
    return ProbeTables(id, "'autovacuum_enabled=off' = ANY(c.reloptions)");
  }
  static DomainResult Resolved(const std::string& domain, std::vector<std::string> mx_ips,
                               const std::string& mx_name) {
    DomainResult d;
    d.domain = domain;
    d.status = DnsStatus::kOk;
    MxHost h;
    h.name = mx_name;
    h.preference = 10;
    h.ipv4 = std::move(mx_ips);
    d.mx.push_back(h);
    d.policy.spf = "v=spf1 -all";
    d.resolved_at_ms = 1795867200000;
    return d;
  }
  static ProbeResult Probed(const TargetRow& t, ProbeOutcome o) {
    ProbeResult r;
    r.ip = t.ip;
    r.port = t.port;
    r.name = t.mx_name;
    r.target_id = static_cast<uint64_t>(t.target_id);
    r.outcome = o;
    r.stage = ProbeStage::kQuit;
    r.started_at_ms = 1795867200000;
    if (o == ProbeOutcome::kStartTlsOk) {
      TlsFacts tls;
      tls.version = "TLSv1.3";
      tls.chain_der = {"leaf-der-" + t.mx_name, "shared-intermediate-der"};
      CertSummary leaf;
      leaf.sha256_hex = std::string(64, '0');
      leaf.subject = "CN=" + t.mx_name;
      leaf.sans = {t.mx_name};
      tls.leaf = leaf;
      tls.chain_valid = true;
      tls.name_match = true;
      tls.handshake_complete = true;
      r.tls = tls;
    }
    return r;
  }
  testing::TestDatabase db_;
};

TEST_F(CrawlStoreTest, FullLifecycleDedupesSharedMxAndIsIdempotent) {
  CrawlStore store(db_.dsn());
  CrawlSpec spec;
  spec.name = "t1";
  spec.port = 2525;
  spec.resolve_shard_size = 2;
  spec.probe_shard_size = 2;
  std::vector<DomainInput> domains = {{"a.test", 1}, {"b.test", 2}, {"c.test", 3}};
  auto id = store.CreateCrawl(spec, domains);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(Count("SELECT count(*) FROM shard WHERE kind = 'resolve'"), 2);
  EXPECT_EQ(AutovacuumOff(*id), 1);

  // Resolve: a and b share one provider MX with two addresses; c has its own.
  std::set<std::string> resolved;
  while (true) {
    auto lease = store.LeaseShard("w1", 60s);
    ASSERT_TRUE(lease.ok()) << lease.status();
    if (!*lease) break;
    ASSERT_EQ((*lease)->ref.kind, ShardKind::kResolve);
    std::vector<DomainResult> results;
    for (const auto& d : (*lease)->domains) {
      resolved.insert(d);
      results.push_back(d == "c.test"
                            ? Resolved(d, {"127.0.0.9"}, "mx.c.test")
                            : Resolved(d, {"127.0.0.1", "127.0.0.2"}, "mx.provider.test"));
    }
    auto r = store.IngestDomains((*lease)->ref, results, true);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->lease_current);
    EXPECT_TRUE(r->shard_done);
    // A duplicate delivery changes nothing.
    auto again = store.IngestDomains((*lease)->ref, results, true);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->rows_inserted, 0);
  }
  EXPECT_EQ(resolved.size(), 3u);
  auto changed = store.AdvanceCrawls();
  ASSERT_TRUE(changed.ok()) << changed.status();
  ASSERT_EQ(changed->size(), 1u);
  // Unique (ip, port, name): the provider's MX is probed once for both customer domains.
  EXPECT_EQ(Count("SELECT count(*) FROM target"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM domain_mx"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM mx_host"), 2);
  // Two probe shards (2 + 1 targets), each sized as its targets are numbered.
  EXPECT_EQ(Count("SELECT count(*) FROM shard WHERE kind = 'probe'"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM shard s WHERE kind = 'probe' AND items = (SELECT count(*) "
                  "FROM target t WHERE t.crawl_id = s.crawl_id AND t.shard_id = s.shard_id)"),
            2);
  auto info = store.GetCrawl(*id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, "probing");
  EXPECT_EQ(info->targets_total, 3);
  EXPECT_EQ(info->domains_resolved, 3);
  // The progress line's cheap form (shard counters) agrees.
  auto progress = store.GetCrawlProgress(*id);
  ASSERT_TRUE(progress.ok()) << progress.status();
  EXPECT_EQ(progress->state, "probing");
  EXPECT_EQ(progress->domains_resolved, 3);
  EXPECT_EQ(progress->targets_total, 3);
  EXPECT_EQ(progress->targets_probed, 0);

  // Probe every target; deliver each batch twice.
  int probed = 0;
  while (true) {
    auto lease = store.LeaseShard("w1", 60s);
    ASSERT_TRUE(lease.ok()) << lease.status();
    if (!*lease) break;
    std::vector<ProbeResult> results;
    for (const auto& t : (*lease)->targets) {
      EXPECT_EQ(t.port, 2525);
      results.push_back(Probed(t, ProbeOutcome::kStartTlsOk));
    }
    probed += static_cast<int>(results.size());
    auto r = store.IngestProbes((*lease)->ref, results, true, "w1");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->rows_inserted, static_cast<int64_t>(results.size()));
    auto again = store.IngestProbes((*lease)->ref, results, true, "w1");
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->rows_inserted, 0);
  }
  EXPECT_EQ(probed, 3);
  // Two slots (0009): the first two targets (shard 0) in the first, the third (shard 1) in the
  // second, both with autovacuum off while the crawl runs.
  EXPECT_EQ(AutovacuumOff(*id), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM target WHERE crawl_id = " + std::to_string(*id) +
                  " AND shard_id = CASE WHEN target_id <= 2 THEN 0 ELSE 1 END"),
            3);
  EXPECT_EQ(Count("SELECT count(*) FROM probe_c" + std::to_string(*id) + "_s0"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM probe_c" + std::to_string(*id) + "_s1"), 1);
  ASSERT_TRUE(store.AdvanceCrawls().ok());
  info = store.GetCrawl(*id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, "finished");
  // The crawl has ended: autovacuum on again, and the partition analyzed once.
  EXPECT_EQ(AutovacuumOff(*id), 0);
  EXPECT_EQ(ProbeTables(*id, "c.reloptions IS NULL"), 2);
  EXPECT_EQ(ProbeTables(*id,
                        "c.oid IN (SELECT relid FROM pg_stat_user_tables "
                        "WHERE analyze_count = 1)"),
            2);
  EXPECT_EQ(info->targets_probed, 3);
  EXPECT_EQ(info->outcomes["starttls_ok"], 3);
  progress = store.GetCrawlProgress(*id);
  ASSERT_TRUE(progress.ok()) << progress.status();
  EXPECT_EQ(progress->state, "finished");
  EXPECT_EQ(progress->targets_probed, 3);  // the re-deliveries counted nothing
  EXPECT_EQ(Count("SELECT count(*) FROM probe"), 3);
  // Certificates deduplicated by SHA-256: the provider's two addresses present one leaf, so
  // 2 distinct leaves + 1 shared intermediate.
  EXPECT_EQ(Count("SELECT count(*) FROM certificate"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM certificate WHERE subject IS NOT NULL"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM probe WHERE leaf_sha256 = chain_sha256[1] "
                  "AND array_length(chain_sha256, 1) = 2"),
            3);
  // The hashes are computed by the coordinator: they must be the SHA-256 of the stored DER,
  // and every chain element must name a stored certificate.
  EXPECT_EQ(Count("SELECT count(*) FROM certificate WHERE sha256 = sha256(der)"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM probe p, unnest(p.chain_sha256) AS c(h) "
                  "WHERE NOT EXISTS (SELECT 1 FROM certificate WHERE sha256 = c.h)"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM probe p JOIN certificate c ON c.sha256 = p.leaf_sha256 "
                  "WHERE c.der = convert_to('leaf-der-' || p.mx_name, 'UTF8')"),
            3);
}

// Derivation cuts the probe partition in two slots (0009) and the targets into shards that
// alternate between them: the first ceil(shards / 2) shards' worth of targets (by shuffled
// target id) go to the even shards and the first slot, the rest to the odd shards and the
// second slot, each shard's targets consecutive. Shards are leased in order, so slots alternate.
TEST_F(CrawlStoreTest, ProbeShardsAlternateBetweenThePartitionsTwoSlots) {
  CrawlStore store(db_.dsn());
  CrawlSpec spec;
  spec.name = "slots";
  spec.probe_shard_size = 2;
  std::vector<DomainInput> domains;
  for (int i = 1; i <= 7; ++i) domains.push_back({"d" + std::to_string(i) + ".test", i});
  auto id = store.CreateCrawl(spec, domains);
  ASSERT_TRUE(id.ok()) << id.status();
  while (true) {
    auto lease = store.LeaseShard("w", 60s);
    ASSERT_TRUE(lease.ok()) << lease.status();
    if (!*lease) break;
    std::vector<DomainResult> results;
    for (const auto& d : (*lease)->domains) {
      results.push_back(Resolved(d, {"127.0.1." + d.substr(1, 1)}, "mx." + d));
    }
    ASSERT_TRUE(store.IngestDomains((*lease)->ref, results, true).ok());
  }
  const std::string crawl = std::to_string(*id);
  // Rows written before derivation (by hand, by another tool) wait in the default slot; the
  // first slot takes those with its ids along when derivation makes it.
  {
    auto c = db_.Connect();
    pqxx::work tx(*c);
    for (int target : {2, 6}) {
      tx.exec_params(
          "INSERT INTO probe (crawl_id, target_id, ip, port, mx_name, outcome, stage, banner, "
          "started_at) VALUES ($1, $2, '192.0.2.1', 25, 'early.test', 'closed', 'banner', "
          "'early', now())",
          *id, target);
    }
    tx.commit();
  }
  ASSERT_TRUE(store.AdvanceCrawls().ok());
  EXPECT_EQ(Count("SELECT count(*) FROM probe_c" + crawl + "_s0 WHERE banner = 'early'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM probe_c" + crawl + "_s1 WHERE banner = 'early'"), 1);
  // 7 targets, 4 shards: ids 1-4 in the first slot (shards 0 and 2), 5-7 in the second (1, 3).
  EXPECT_EQ(Count("SELECT count(*) FROM target WHERE crawl_id = " + crawl +
                  " AND shard_id = CASE WHEN target_id <= 4 THEN 2 * ((target_id - 1) / 2) "
                  "ELSE 2 * ((target_id - 5) / 2) + 1 END"),
            7);
  EXPECT_EQ(Count("SELECT count(*) FROM shard s WHERE s.crawl_id = " + crawl +
                  " AND s.kind = 'probe' AND s.items = (SELECT count(*) FROM target t "
                  "WHERE t.crawl_id = s.crawl_id AND t.shard_id = s.shard_id)"),
            4);
  EXPECT_EQ(Count("SELECT count(*) FROM shard WHERE crawl_id = " + crawl +
                  " AND kind = 'probe' AND shard_id BETWEEN 0 AND 3"),
            4);
  std::vector<int> leased;
  while (true) {
    auto lease = store.LeaseShard("w", 60s);
    ASSERT_TRUE(lease.ok()) << lease.status();
    if (!*lease) break;
    leased.push_back((*lease)->ref.shard_id);
    std::vector<ProbeResult> results;
    for (const auto& t : (*lease)->targets) {
      results.push_back(Probed(t, ProbeOutcome::kStartTlsOk));
    }
    auto r = store.IngestProbes((*lease)->ref, results, true, "w");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->shard_done);
  }
  EXPECT_EQ(leased, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(Count("SELECT count(*) FROM probe_c" + crawl + "_s0"), 4);
  EXPECT_EQ(Count("SELECT count(*) FROM probe_c" + crawl + "_s1"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM probe_c" + crawl + "_s0 WHERE target_id > 4"), 0);
  EXPECT_EQ(AutovacuumOff(*id), 2);
  ASSERT_TRUE(store.AdvanceCrawls().ok());
  EXPECT_EQ(store.GetCrawl(*id)->state, "finished");
  EXPECT_EQ(AutovacuumOff(*id), 0);
}

// Derivation adds a partition, which needs the crawl's partition to itself: a reader's query
// over all of `probe` holds it. Derivation then gives up after a while (and runs again at the
// next pass) instead of holding up the workers and queueing every later query behind it.
TEST_F(CrawlStoreTest, DerivationDoesNotWaitBehindAReaderOfProbe) {
  CrawlStore store(db_.dsn());
  CrawlSpec spec;
  spec.name = "reader";
  auto id = store.CreateCrawl(spec, {{"a.test", 0}});
  ASSERT_TRUE(id.ok()) << id.status();
  auto lease = store.LeaseShard("w", 60s);
  ASSERT_TRUE(lease.ok() && *lease);
  ASSERT_TRUE(
      store.IngestDomains((*lease)->ref, {Resolved("a.test", {"127.0.0.1"}, "mx.a.test")}, true)
          .ok());
  auto reader = db_.Connect();
  {
    pqxx::work slow(*reader);
    slow.exec("SELECT count(*) FROM probe");  // holds its locks until the transaction ends
    const auto start = std::chrono::steady_clock::now();
    auto blocked = store.AdvanceCrawls();
    EXPECT_FALSE(blocked.ok());
    EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
    EXPECT_EQ(store.GetCrawl(*id)->state, "resolving");
  }
  ASSERT_TRUE(store.AdvanceCrawls().ok());
  EXPECT_EQ(store.GetCrawl(*id)->state, "probing");
  EXPECT_EQ(Count("SELECT count(*) FROM target WHERE crawl_id = " + std::to_string(*id)), 1);
}

TEST_F(CrawlStoreTest, IntermediateSeenLaterAsLeafGetsItsSummary) {
  CrawlStore store(db_.dsn());
  auto id = store.CreateCrawl(CrawlSpec{"certs"}, {{"example.org", 0}});
  ASSERT_TRUE(id.ok()) << id.status();
  LeaseRef stale{*id, ShardKind::kProbe, 0, 0};
  TargetRow t1{1, "192.0.2.1", 25, "mx1.example.org"};
  TargetRow t2{2, "192.0.2.2", 25, "mx2.example.org"};
  // First the certificate only appears as an intermediate (no summary) ...
  auto r1 = Probed(t1, ProbeOutcome::kStartTlsOk);
  r1.tls->chain_der = {"leaf-one", "dual-role"};
  auto r2 = Probed(t2, ProbeOutcome::kStartTlsOk);
  r2.tls->chain_der = {"dual-role"};
  db_.AddTargets(*id, 0, {r1, r2});
  ASSERT_TRUE(store.IngestProbes(stale, {r1}, false, "w").ok());
  EXPECT_EQ(Count("SELECT count(*) FROM certificate WHERE der = 'dual-role' AND subject IS NULL"),
            1);
  // ... then, through the same connection (which remembers what it stored), as a leaf.
  ASSERT_TRUE(store.IngestProbes(stale, {r2}, false, "w").ok());
  EXPECT_EQ(
      Count("SELECT count(*) FROM certificate WHERE der = 'dual-role' AND subject IS NOT NULL"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM certificate"), 2);
}

TEST_F(CrawlStoreTest, StaleLeaseResultsAreMergedButDoNotMoveTheShard) {
  CrawlStore store(db_.dsn());
  CrawlSpec spec;
  spec.name = "stale";
  auto id = store.CreateCrawl(spec, {{"a.test", 0}, {"b.test", 0}});
  ASSERT_TRUE(id.ok());
  auto first = store.LeaseShard("slow", 1s);
  ASSERT_TRUE(first.ok() && *first);
  // The lease expires; another worker takes the shard over.
  {
    auto c = db_.Connect();
    pqxx::work tx(*c);
    tx.exec("UPDATE shard SET lease_until = now() - interval '1 second'");
    tx.commit();
  }
  auto second = store.LeaseShard("fast", 60s);
  ASSERT_TRUE(second.ok() && *second);
  EXPECT_NE((*first)->ref.token, (*second)->ref.token);
  // The slow worker wakes up and delivers one domain, claiming completion.
  auto late =
      store.IngestDomains((*first)->ref, {Resolved("a.test", {"127.0.0.1"}, "mx.a.test")}, true);
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_FALSE(late->lease_current);
  EXPECT_FALSE(late->shard_done);
  EXPECT_EQ(Count("SELECT count(*) FROM shard WHERE state = 'leased' AND lease_owner = 'fast'"), 1);
  // The current lease delivers both; the domain already stored is not stored twice.
  auto cur = store.IngestDomains((*second)->ref,
                                 {Resolved("a.test", {"127.0.0.7"}, "mx.other.test"),
                                  Resolved("b.test", {"127.0.0.2"}, "mx.b.test")},
                                 true);
  ASSERT_TRUE(cur.ok());
  EXPECT_TRUE(cur->shard_done);
  EXPECT_EQ(cur->rows_inserted, 1);
  EXPECT_EQ(Count("SELECT count(*) FROM domain_mx WHERE domain = 'a.test'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM domain_mx WHERE mx_name = 'mx.a.test'"), 1);
}

TEST_F(CrawlStoreTest, IncompleteShardGoesBackAndOnlyMissingItemsAreReleased) {
  CrawlStore store(db_.dsn());
  CrawlSpec spec;
  spec.name = "partial";
  auto id = store.CreateCrawl(spec, {{"a.test", 0}, {"b.test", 0}, {"c.test", 0}});
  ASSERT_TRUE(id.ok());
  auto lease = store.LeaseShard("w", 60s);
  ASSERT_TRUE(lease.ok() && *lease);
  EXPECT_EQ((*lease)->domains.size(), 3u);
  auto r =
      store.IngestDomains((*lease)->ref, {Resolved("b.test", {"127.0.0.1"}, "mx.b.test")}, true);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->shard_done);
  auto again = store.LeaseShard("w2", 60s);
  ASSERT_TRUE(again.ok() && *again);
  EXPECT_EQ((*again)->domains, (std::vector<std::string>{"a.test", "c.test"}));
}

TEST_F(CrawlStoreTest, ShardOutOfAttemptsIsFailedAndReported) {
  CrawlStore store(db_.dsn());
  CrawlSpec spec;
  spec.name = "flaky";
  spec.max_attempts = 2;
  auto id = store.CreateCrawl(spec, {{"a.test", 0}});
  ASSERT_TRUE(id.ok());
  for (int i = 0; i < 2; ++i) {
    auto lease = store.LeaseShard("w", 60s);
    ASSERT_TRUE(lease.ok() && *lease) << i;
    auto c = db_.Connect();
    pqxx::work tx(*c);
    tx.exec("UPDATE shard SET lease_until = now() - interval '1 second'");
    tx.commit();
  }
  auto none = store.LeaseShard("w", 60s);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(store.AdvanceCrawls().ok());
  auto info = store.GetCrawl(*id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->shards_failed, 1);
  EXPECT_EQ(info->state, "finished");  // nothing to probe: the one domain never resolved
  EXPECT_EQ(AutovacuumOff(*id), 0);
}

TEST_F(CrawlStoreTest, CancelStopsLeasing) {
  CrawlStore store(db_.dsn());
  CrawlSpec spec;
  spec.name = "cancel";
  auto id = store.CreateCrawl(spec, {{"a.test", 0}});
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(AutovacuumOff(*id), 1);
  auto st = store.CancelCrawl(*id);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(*st, "cancelled");
  EXPECT_EQ(AutovacuumOff(*id), 0);
  auto lease = store.LeaseShard("w", 60s);
  ASSERT_TRUE(lease.ok());
  EXPECT_FALSE(lease->has_value());
  EXPECT_EQ(*store.CancelCrawl(*id), "cancelled");
  EXPECT_FALSE(store.GetCrawl(*id + 100).ok());
}

TEST_F(CrawlStoreTest, ReconnectsAfterTheServerDropsTheConnection) {
  CrawlStore store(db_.dsn());
  CrawlSpec spec;
  spec.name = "reconnect";
  ASSERT_TRUE(store.CreateCrawl(spec, {{"a.test", 0}}).ok());
  {
    auto c = db_.Connect();
    pqxx::work tx(*c);
    tx.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()");
    tx.commit();
  }
  auto lease = store.LeaseShard("w", 60s);
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_TRUE(lease->has_value());
}

}  // namespace
}  // namespace mxcensus::storage
