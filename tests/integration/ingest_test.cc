// Probe ingestion's two paths against a real server: the fast path (binary COPY straight into
// the crawl's partition under a savepoint, of the rows a lookup did not find stored when a batch
// looks like a re-delivery) and its fallback (staging and merge) when a row meets a stored one.
// Every column must come out as the result went in, whichever path stored it, nothing may be stored
// twice, and certificates are deduplicated across batches and paths.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "storage/crawl_store.h"
#include "storage/migrations.h"
#include "tests/harness/test_db.h"
#include "worker/tls/session_facts.h"

namespace mxcensus::storage {
namespace {

using namespace std::chrono_literals;

ProbeResult Full();

using tls::Sha256Digest;

class IngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = db_.Connect();
    ASSERT_TRUE(Migrate(*c).ok());
  }
  int64_t Count(const std::string& sql) { return db_.Count(sql); }
  // Chain digests of probe rows that name no stored certificate.
  int64_t DanglingChainDigests() {
    return Count(
        "SELECT count(*) FROM probe p, unnest(p.chain_sha256) AS c(h) "
        "WHERE NOT EXISTS (SELECT 1 FROM certificate WHERE sha256 = c.h)");
  }
  // Polls (up to 5 s) until a session of the test database waits for a lock.
  bool SomeSessionWaitsForALock() {
    auto watcher = db_.Connect();
    for (int i = 0; i < 500; ++i) {
      pqxx::work w(*watcher);
      const bool waiting =
          w.exec(
               "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
               "AND wait_event_type = 'Lock'")[0][0]
              .as<int>() > 0;
      w.commit();
      if (waiting) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
  std::string Text(const std::string& sql) {
    auto c = db_.Connect();
    pqxx::work tx(*c);
    auto r = tx.exec(sql);
    if (r.empty()) return "<no row>";
    return r[0][0].is_null() ? "<null>" : r[0][0].as<std::string>();
  }
  // A crawl to store into, and a lease of its shard 0 that is not current (results are stored,
  // no shard moves). The shard's targets are those of Plain(1..60) and Full().
  LeaseRef NewCrawl(CrawlStore& store, const std::string& name) {
    CrawlSpec spec;
    spec.name = name;
    auto id = store.CreateCrawl(spec, {});
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return LeaseRef{};
    std::vector<ProbeResult> targets = {Full()};
    for (int i = 1; i <= 60; ++i) targets.push_back(Plain(i));
    db_.AddTargets(*id, 0, targets);
    return LeaseRef{*id, ShardKind::kProbe, 0, 0};
  }
  // The result of target 1000 + i.
  static ProbeResult Plain(int i) {
    ProbeResult r;
    r.target_id = 1000 + static_cast<uint64_t>(i);
    r.ip = "192.0.2." + std::to_string(i);
    r.port = 25;
    r.name = "mx" + std::to_string(i) + ".example.test";
    r.outcome = ProbeOutcome::kNoStartTls;
    r.stage = ProbeStage::kQuit;
    r.banner = "220 hi";
    r.ehlo = {"mx.example.test", "PIPELINING"};
    r.codes.banner = 220;
    r.timing_ms.total = 3;
    r.started_at_ms = 1795867200000 + i;
    return r;
  }
  static ProbeResult WithChain(int i, std::vector<std::string> chain) {
    ProbeResult r = Plain(i);
    r.outcome = ProbeOutcome::kStartTlsOk;
    TlsFacts t;
    t.version = "TLSv1.3";
    t.chain_der = std::move(chain);
    CertSummary leaf;
    leaf.subject = "CN=" + r.name;
    leaf.sans = {r.name};
    t.leaf = leaf;
    t.handshake_complete = true;
    r.tls = t;
    return r;
  }
  // A crawl of one domain whose MX has three addresses, resolved and cut into one probe shard
  // of three targets (not leased yet). Returns its id.
  int64_t ProbingCrawl(CrawlStore& store, const std::string& name) {
    CrawlSpec spec;
    spec.name = name;
    spec.probe_shard_size = 10;
    auto id = store.CreateCrawl(spec, {{"a.test", 0}});
    EXPECT_TRUE(id.ok()) << id.status();
    auto resolve = store.LeaseShard("w", std::chrono::seconds(60));
    EXPECT_TRUE(resolve.ok() && *resolve);
    if (!id.ok() || !resolve.ok() || !*resolve) return 0;
    DomainResult d;
    d.domain = "a.test";
    d.status = DnsStatus::kOk;
    MxHost h;
    h.name = "mx.a.test";
    h.preference = 10;
    h.ipv4 = {"127.0.0.1", "127.0.0.2", "127.0.0.3"};
    d.mx.push_back(h);
    d.resolved_at_ms = 1795867200000;
    EXPECT_TRUE(store.IngestDomains((*resolve)->ref, {d}, true).ok());
    EXPECT_TRUE(store.AdvanceCrawls().ok());
    return *id;
  }
  static ProbeResult Probed(const TargetRow& t) {
    ProbeResult r;
    r.ip = t.ip;
    r.port = t.port;
    r.name = t.mx_name;
    r.target_id = static_cast<uint64_t>(t.target_id);
    r.outcome = ProbeOutcome::kNoStartTls;
    r.started_at_ms = 1795867200000;
    return r;
  }
  testing::TestDatabase db_;
};

// Everything a probe row can hold, with the characters text COPY had to escape.
ProbeResult Full() {
  ProbeResult r;
  r.ip = "2001:db8::25";
  r.port = 2525;
  r.name = "mx.full.test";
  r.tag = "tag\twith\\tab";
  r.target_id = 77;
  r.outcome = ProbeOutcome::kTlsFailed;
  r.stage = ProbeStage::kTls;
  r.error = "line1\nline2 \"quoted\" ü";
  r.banner = "220 mx.full.test ESMTP \\o/";
  r.ehlo = {"mx.full.test", "SIZE 1000", "STARTTLS", "quote\"and,comma{}"};
  r.ehlo_tls = {};
  r.helo_fallback = true;
  r.pipelined_after_starttls = true;
  r.codes.banner = 220;
  r.codes.ehlo = 250;
  r.codes.helo = 501;
  r.codes.starttls = 220;
  r.codes.quit = 221;  // ehlo_tls stays NULL
  TlsFacts t;
  t.version = "TLSv1.2";
  t.cipher = "ECDHE-RSA-AES128-GCM-SHA256";
  t.group = "";  // NULL
  t.dh_bits = 2048;
  t.chain_der = {std::string("leaf\0der", 8), "intermediate-der"};
  t.chain_valid = false;
  t.verify_error = "self-signed certificate";
  t.name_match = true;
  t.alert = "handshake failure";
  t.handshake_complete = false;
  r.tls = t;
  r.timing_ms.connect = 1.25;
  r.timing_ms.banner = 0.5;
  r.timing_ms.tls = 12.75;  // the others NULL
  r.timing_ms.total = 99.5;
  r.started_at_ms = 1795867200123;
  return r;
}

TEST_F(IngestTest, EveryColumnComesOutAsItWentInOnBothPaths) {
  CrawlStore store(db_.dsn());
  const LeaseRef fast = NewCrawl(store, "fast");
  const LeaseRef slow = NewCrawl(store, "slow");
  ProbeResult bare = Plain(1);  // no TLS, few codes
  bare.ehlo.clear();
  auto a = store.IngestProbes(fast, {Full(), bare}, false, "w\t1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_FALSE(a->merged);
  EXPECT_EQ(a->rows_inserted, 2);
  store.set_ingest_fast_path(false);
  auto b = store.IngestProbes(slow, {Full(), bare}, false, "w\t1");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->merged);
  EXPECT_EQ(b->rows_inserted, 2);

  const std::string full = "FROM probe WHERE crawl_id = " + std::to_string(fast.crawl_id) +
                           " AND mx_name = 'mx.full.test'";
  EXPECT_EQ(Text("SELECT ip::text " + full), "2001:db8::25/128");
  EXPECT_EQ(Text("SELECT host(ip) || ' ' || port || ' ' || tag || ' ' || target_id " + full),
            "2001:db8::25 2525 tag\twith\\tab 77");
  EXPECT_EQ(Text("SELECT outcome || ' ' || stage " + full), "tls_failed tls");
  EXPECT_EQ(Text("SELECT error " + full), "line1\nline2 \"quoted\" ü");
  EXPECT_EQ(Text("SELECT banner " + full), "220 mx.full.test ESMTP \\o/");
  EXPECT_EQ(Text("SELECT array_length(ehlo, 1) || ' ' || ehlo[4] " + full), "4 quote\"and,comma{}");
  EXPECT_EQ(Text("SELECT ehlo_tls::text " + full), "{}");
  EXPECT_EQ(Text("SELECT concat_ws(',', helo_fallback, pipelined_after_starttls, code_banner, "
                 "code_ehlo, code_helo, code_starttls, coalesce(code_ehlo_tls, -1), code_quit) " +
                 full),
            "t,t,220,250,501,220,-1,221");
  EXPECT_EQ(Text("SELECT concat_ws(',', tls_version, tls_cipher, coalesce(tls_group, 'null'), "
                 "dh_bits, chain_valid, verify_error, name_match, tls_alert, "
                 "tls_handshake_complete) " +
                 full),
            "TLSv1.2,ECDHE-RSA-AES128-GCM-SHA256,null,2048,f,self-signed certificate,t,"
            "handshake failure,f");
  EXPECT_EQ(Text("SELECT concat_ws(',', ms_connect, ms_banner, coalesce(ms_ehlo, -1), "
                 "coalesce(ms_starttls, -1), ms_tls, coalesce(ms_ehlo_tls, -1), "
                 "coalesce(ms_quit, -1), ms_total) " +
                 full),
            "1.25,0.5,-1,-1,12.75,-1,-1,99.5");
  EXPECT_EQ(
      Text("SELECT to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') " + full),
      "2026-11-28 12:00:00.123");
  EXPECT_EQ(Text("SELECT worker " + full), "w\t1");
  EXPECT_EQ(Text("SELECT (chain_sha256[1] = sha256('leaf\\000der'::bytea) AND "
                 "chain_sha256[2] = sha256('intermediate-der') AND leaf_sha256 = "
                 "chain_sha256[1] AND array_length(chain_sha256, 1) = 2)::text " +
                 full),
            "true");
  const std::string bare_row = "FROM probe WHERE crawl_id = " + std::to_string(fast.crawl_id) +
                               " AND mx_name = 'mx1.example.test'";
  EXPECT_EQ(Text("SELECT concat_ws(',', host(ip), coalesce(target_id, -1), error IS NULL, "
                 "ehlo::text, tls_version IS NULL, chain_sha256 IS NULL, leaf_sha256 IS NULL, "
                 "tls_handshake_complete IS NULL, code_banner, code_ehlo IS NULL) " +
                 bare_row),
            "192.0.2.1,1001,t,{},t,t,t,t,220,t");
  // The merge path stored exactly the same values (stored_at and crawl_id aside).
  const std::string cols =
      "ip, port, mx_name, tag, target_id, outcome, stage, error, banner, ehlo, ehlo_tls, "
      "helo_fallback, pipelined_after_starttls, code_banner, code_ehlo, code_helo, "
      "code_starttls, code_ehlo_tls, code_quit, tls_version, tls_cipher, tls_group, dh_bits, "
      "chain_sha256, leaf_sha256, chain_valid, verify_error, name_match, tls_alert, "
      "ms_connect, ms_banner, ms_ehlo, ms_starttls, ms_tls, ms_ehlo_tls, ms_quit, ms_total, "
      "started_at, worker, tls_handshake_complete";
  for (const auto& [x, y] : {std::pair{fast, slow}, std::pair{slow, fast}}) {
    EXPECT_EQ(Count("SELECT count(*) FROM (SELECT " + cols + " FROM probe WHERE crawl_id = " +
                    std::to_string(x.crawl_id) + " EXCEPT SELECT " + cols +
                    " FROM probe WHERE crawl_id = " + std::to_string(y.crawl_id) + ") d"),
              0);
  }
}

TEST_F(IngestTest, DuplicateBatchIsLookedUpAndStoresNothingTwice) {
  CrawlStore store(db_.dsn());
  const LeaseRef lease = NewCrawl(store, "dup");
  std::vector<ProbeResult> batch;
  for (int i = 1; i <= 50; ++i) batch.push_back(Plain(i));
  auto first = store.IngestProbes(lease, batch, false, "w");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->merged);
  EXPECT_EQ(first->rows_inserted, 50);
  // The same batch again (a re-delivery after a reconnect), through a second store as a
  // restarted coordinator would.
  CrawlStore other(db_.dsn());
  for (CrawlStore* s : {&store, &other}) {
    auto again = s->IngestProbes(lease, batch, false, "w");
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_FALSE(again->merged);  // found stored by the lookup: nothing sent, nothing staged
    EXPECT_EQ(again->rows_inserted, 0);
  }
  EXPECT_EQ(Count("SELECT count(*) FROM probe"), 50);
  EXPECT_EQ(Count("SELECT count(DISTINCT (ip, port, mx_name)) FROM probe"), 50);
  // The same batch through the merge path (fast path off) stores nothing either.
  store.set_ingest_fast_path(false);
  auto merged = store.IngestProbes(lease, batch, false, "w");
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_TRUE(merged->merged);
  EXPECT_EQ(merged->rows_inserted, 0);
  EXPECT_EQ(Count("SELECT count(*) FROM probe"), 50);
}

// A re-delivery that overlaps what is stored, its ends stored and rows in between missing (a
// worker re-sends a batch whose shard another worker took over meanwhile): the lookup finds the
// stored rows, and only the missing ones are stored, with their chains.
TEST_F(IngestTest, ReDeliveryWithGapsStoresOnlyTheMissingRowsWithoutTheMerge) {
  CrawlStore store(db_.dsn());
  const LeaseRef lease = NewCrawl(store, "gaps");
  ASSERT_TRUE(store.IngestProbes(lease, {Plain(1), Plain(4), Plain(6)}, false, "first").ok());
  ProbeResult changed = Plain(4);
  changed.banner = "220 a later, different answer";
  const std::vector<ProbeResult> batch = {Plain(1),
                                          WithChain(2, {"leaf-gap-2", "inter-gap"}),
                                          WithChain(3, {"leaf-gap-3", "inter-gap"}),
                                          changed,
                                          WithChain(5, {"leaf-gap-5"}),
                                          Plain(6)};
  auto r = store.IngestProbes(lease, batch, false, "again");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->merged);
  EXPECT_EQ(r->rows_inserted, 3);
  EXPECT_EQ(Count("SELECT count(*) FROM probe"), 6);
  EXPECT_EQ(Count("SELECT count(*) FROM probe WHERE worker = 'again'"), 3);
  EXPECT_EQ(Text("SELECT banner FROM probe WHERE mx_name = 'mx4.example.test'"), "220 hi");
  // Each stored row has its own chain, although rows in between were skipped.
  for (int i : {2, 3, 5}) {
    EXPECT_EQ(Text("SELECT (leaf_sha256 = sha256('leaf-gap-" + std::to_string(i) +
                   "'::bytea))::text FROM probe WHERE mx_name = 'mx" + std::to_string(i) +
                   ".example.test'"),
              "true");
  }
  EXPECT_EQ(Text("SELECT (chain_sha256[2] = sha256('inter-gap'))::text FROM probe "
                 "WHERE mx_name = 'mx3.example.test'"),
            "true");
  EXPECT_EQ(DanglingChainDigests(), 0);
}

// The lookup cannot see a row another connection has stored but not committed: the COPY waits
// for it, meets it on the primary key, and the batch takes the merge, which stores nothing twice.
TEST_F(IngestTest, ReDeliveryRacingAnotherConnectionFallsBackToTheMerge) {
  CrawlStore store(db_.dsn());
  const LeaseRef lease = NewCrawl(store, "race");
  ASSERT_TRUE(store.IngestProbes(lease, {Plain(1), Plain(3)}, false, "first").ok());
  auto other = db_.Connect();
  pqxx::work otx(*other);
  otx.exec_params(
      "INSERT INTO probe (crawl_id, ip, port, mx_name, target_id, outcome, stage, started_at, "
      "worker) VALUES ($1, '192.0.2.2', 25, 'mx2.example.test', 1002, 'no_starttls', 'quit', "
      "now(), 'other')",
      lease.crawl_id);
  absl::StatusOr<IngestResult> r = absl::UnknownError("not run");
  std::thread ingest([&] {
    r = store.IngestProbes(lease, {Plain(1), Plain(2), Plain(3)}, false, "again");
  });
  const bool waiting = SomeSessionWaitsForALock();
  EXPECT_TRUE(waiting) << "the ingestion never waited for the other connection's row";
  otx.commit();
  ingest.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->merged);
  EXPECT_EQ(r->rows_inserted, 0);
  EXPECT_EQ(Count("SELECT count(*) FROM probe"), 3);
  EXPECT_EQ(Text("SELECT worker FROM probe WHERE target_id = 1002"), "other");
}

TEST_F(IngestTest, BatchMixingNewAndStoredTargetsStoresOnlyTheNewOnes) {
  CrawlStore store(db_.dsn());
  const LeaseRef lease = NewCrawl(store, "mixed");
  ASSERT_TRUE(store.IngestProbes(lease, {Plain(5), Plain(6)}, false, "w").ok());
  // New targets first and last, stored ones in the middle: the fast path is tried, fails on the
  // primary key after having sent new rows, and its savepoint must take those back.
  ProbeResult changed = Plain(6);
  changed.banner = "220 a later, different answer";
  std::vector<ProbeResult> batch = {Plain(1), Plain(2), Plain(5), changed, Plain(9)};
  auto r = store.IngestProbes(lease, batch, false, "w2");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->merged);
  EXPECT_EQ(r->rows_inserted, 3);
  EXPECT_EQ(Count("SELECT count(*) FROM probe"), 5);
  EXPECT_EQ(Count("SELECT count(DISTINCT (ip, port, mx_name)) FROM probe"), 5);
  // The first result stays; the new rows carry their batch's worker.
  EXPECT_EQ(Text("SELECT banner FROM probe WHERE mx_name = 'mx6.example.test'"), "220 hi");
  EXPECT_EQ(Count("SELECT count(*) FROM probe WHERE worker = 'w2'"), 3);
  // A target twice in one new batch is stored once.
  auto twice = store.IngestProbes(lease, {Plain(20), Plain(21), Plain(20), Plain(22)}, false, "w");
  ASSERT_TRUE(twice.ok()) << twice.status();
  EXPECT_TRUE(twice->merged);
  EXPECT_EQ(twice->rows_inserted, 3);
  EXPECT_EQ(Count("SELECT count(*) FROM probe"), 8);
  // And the fast path works again for the next new batch.
  auto next = store.IngestProbes(lease, {Plain(30), Plain(31)}, false, "w");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_FALSE(next->merged);
  EXPECT_EQ(next->rows_inserted, 2);
}

TEST_F(IngestTest, CertificatesAreDeduplicatedAcrossBatchesAndPaths) {
  CrawlStore store(db_.dsn());
  const LeaseRef lease = NewCrawl(store, "certs");
  // Fast path: two rows share the intermediate.
  auto a = store.IngestProbes(
      lease, {WithChain(1, {"leaf-a", "inter"}), WithChain(2, {"leaf-b", "inter"})}, false, "w");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_FALSE(a->merged);
  // Fallback path (one target stored), with a known and a new leaf.
  auto b = store.IngestProbes(lease,
                              {WithChain(3, {"leaf-c", "inter"}), WithChain(1, {"leaf-a", "inter"}),
                               WithChain(4, {"leaf-a", "inter"})},
                              false, "w");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->merged);
  EXPECT_EQ(b->rows_inserted, 2);
  // A store that has not seen them (its own connection, an empty cache), on the fast path.
  CrawlStore other(db_.dsn());
  auto c = other.IngestProbes(lease, {WithChain(5, {"leaf-b", "inter"}), WithChain(6, {"leaf-d"})},
                              false, "w");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->merged);
  EXPECT_EQ(Count("SELECT count(*) FROM certificate"), 5);  // 4 leaves + 1 intermediate
  EXPECT_EQ(Count("SELECT count(*) FROM certificate WHERE sha256 = sha256(der)"), 5);
  EXPECT_EQ(Count("SELECT count(*) FROM certificate WHERE subject IS NULL"), 1);  // inter
  EXPECT_EQ(Count("SELECT count(*) FROM probe"), 6);
  EXPECT_EQ(DanglingChainDigests(), 0);
}

// The certificates go in by a binary COPY whose fields must be in each column's exact type:
// every summary column is read back, with the values that text forms get wrong (quotes and
// commas in names, non-ASCII, dates before 1970 and in 9999, an empty SAN list).
TEST_F(IngestTest, EveryCertificateColumnComesOutAsItWentIn) {
  CrawlStore store(db_.dsn());
  const LeaseRef lease = NewCrawl(store, "cert-columns");
  ProbeResult a = WithChain(1, {"leaf-full", "inter-x"});
  CertSummary& s = *a.tls->leaf;
  s.subject = "CN=mx1.example.test,O=Ex\"ample, Inc.,L=Zürich";
  s.issuer = "CN=Lab CA \\o/";
  s.sans = {"mx1.example.test", "a,b{c}\"d", "192.0.2.1"};
  s.not_before = -86400;       // 1969-12-31
  s.not_after = 253402300799;  // 9999-12-31 23:59:59
  s.key_type = "ec";
  s.key_bits = 384;
  s.sig_alg = "ecdsa-with-SHA384";
  s.self_signed = true;
  ProbeResult b = WithChain(2, {"leaf-bare"});
  b.tls->leaf->sans.clear();
  auto r = store.IngestProbes(lease, {a, b}, false, "w");
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string full = "FROM certificate WHERE der = 'leaf-full'::bytea";
  EXPECT_EQ(Text("SELECT subject " + full), s.subject);
  EXPECT_EQ(Text("SELECT issuer " + full), s.issuer);
  EXPECT_EQ(Text("SELECT array_length(sans, 1) || '|' || sans[2] || '|' || sans[3] " + full),
            "3|a,b{c}\"d|192.0.2.1");
  EXPECT_EQ(Text("SELECT to_char(not_before AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' ' "
                 "|| to_char(not_after AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') " +
                 full),
            "1969-12-31 00:00:00 9999-12-31 23:59:59");
  EXPECT_EQ(Text("SELECT concat_ws(',', key_type, key_bits, sig_alg, self_signed) " + full),
            "ec,384,ecdsa-with-SHA384,t");
  EXPECT_EQ(Text("SELECT sans::text FROM certificate WHERE der = 'leaf-bare'::bytea"), "{}");
  // An intermediate has no summary: every summary column NULL, SANs empty.
  EXPECT_EQ(Text("SELECT concat_ws(',', coalesce(subject, 'null'), coalesce(issuer, 'null'), "
                 "sans::text, coalesce(not_before::text, 'null'), coalesce(key_bits, -1), "
                 "coalesce(self_signed::text, 'null')) FROM certificate "
                 "WHERE der = 'inter-x'::bytea"),
            "null,null,{},null,-1,null");
}

// New certificates go straight into `certificate` by COPY after a lookup said they are not
// stored. Another connection can store one between the lookup and the COPY (another writer, or
// another coordinator): the COPY then waits for it and fails on the key, and the batch must
// still be stored whole, the certificate once, with the summary that only this batch has.
TEST_F(IngestTest, CertificateStoredByAnotherConnectionDuringTheBatchIsMergedNotDuplicated) {
  CrawlStore store(db_.dsn());
  const LeaseRef lease = NewCrawl(store, "cert-race");
  // The other connection has the leaf without a summary (as an intermediate would be stored),
  // not committed yet: the ingestion's lookup cannot see it, its COPY must wait for it.
  auto other = db_.Connect();
  pqxx::work otx(*other);
  otx.exec("INSERT INTO certificate (sha256, der) VALUES (sha256('leaf-race'), 'leaf-race')");
  absl::StatusOr<IngestResult> r = absl::UnknownError("not run");
  std::thread ingest([&] {
    r = store.IngestProbes(
        lease, {WithChain(1, {"leaf-race", "inter-r"}), WithChain(2, {"leaf-r2", "inter-r"})},
        false, "w");
  });
  const bool waiting = SomeSessionWaitsForALock();
  EXPECT_TRUE(waiting) << "the ingestion never waited for the other connection's certificate";
  otx.commit();
  ingest.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rows_inserted, 2);
  EXPECT_EQ(Count("SELECT count(*) FROM certificate"), 3);  // leaf-race, leaf-r2, inter-r
  EXPECT_EQ(Text("SELECT subject FROM certificate WHERE der = 'leaf-race'::bytea"),
            "CN=mx1.example.test");
  EXPECT_EQ(DanglingChainDigests(), 0);
  // The same certificates again, from a store that knows none of them: all found by the
  // lookup, nothing sent, nothing changed.
  CrawlStore fresh(db_.dsn());
  auto again = fresh.IngestProbes(lease, {WithChain(3, {"leaf-race", "inter-r"})}, false, "w");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Count("SELECT count(*) FROM certificate"), 3);
}

// A worker sends each chain element's SHA-256 with its DER, and the coordinator keys
// certificates by it. Before a certificate is stored, its DER is hashed: a digest that is not
// the DER's refuses the batch (nothing of it stored); a digest that is no SHA-256 at all is
// ignored and the DER hashed.
TEST_F(IngestTest, DigestsSentWithTheDersAreCheckedBeforeACertificateIsStored) {
  CrawlStore store(db_.dsn());
  const LeaseRef lease = NewCrawl(store, "digests");
  ProbeResult a = WithChain(1, {"leaf-sent-1", "inter-sent"});
  a.tls->chain_sha256 = {Sha256Digest("leaf-sent-1"), Sha256Digest("inter-sent")};
  ProbeResult b = WithChain(2, {"leaf-sent-2", "inter-sent"});
  b.tls->chain_sha256 = {"short", Sha256Digest("inter-sent")};
  auto ok = store.IngestProbes(lease, {a, b}, false, "w");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->rows_inserted, 2);
  EXPECT_EQ(Count("SELECT count(*) FROM certificate"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM certificate WHERE sha256 = sha256(der)"), 3);
  EXPECT_EQ(Text("SELECT (leaf_sha256 = sha256('leaf-sent-2'))::text FROM probe "
                 "WHERE target_id = 1002"),
            "true");

  // A new leaf under another certificate's digest, in a batch with a good row.
  ProbeResult lie = WithChain(3, {"leaf-lie", "inter-sent"});
  lie.tls->chain_sha256 = {Sha256Digest("leaf-honest"), Sha256Digest("inter-sent")};
  CrawlStore other(db_.dsn());  // knows no certificate: every digest goes to the database
  auto refused = other.IngestProbes(lease, {WithChain(4, {"leaf-sent-4"}), lie}, false, "w");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_NE(refused.status().message().find("not its DER's"), std::string::npos)
      << refused.status();
  EXPECT_EQ(Count("SELECT count(*) FROM probe"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM certificate"), 3);
  // The connection is usable, and the honest certificate is stored under its own digest.
  lie.tls->chain_der[0] = "leaf-honest";
  auto honest = other.IngestProbes(lease, {lie}, false, "w");
  ASSERT_TRUE(honest.ok()) << honest.status();
  EXPECT_EQ(Count("SELECT count(*) FROM certificate WHERE sha256 = sha256(der)"), 4);
}

TEST_F(IngestTest, BadAddressIsNamedStoresNothingAndLeavesTheConnectionUsable) {
  CrawlStore store(db_.dsn());
  const LeaseRef lease = NewCrawl(store, "bad");
  ProbeResult bad = Plain(2);
  bad.ip = "not-an-ip";
  // In the middle: the fast-path COPY is under way when the bad row comes.
  auto r = store.IngestProbes(lease, {Plain(1), bad, Plain(3)}, false, "w");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("'not-an-ip'"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("mx2.example.test"), std::string::npos) << r.status();
  EXPECT_EQ(Count("SELECT count(*) FROM probe"), 0);
  auto ok = store.IngestProbes(lease, {Plain(1), Plain(3)}, false, "w");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->rows_inserted, 2);
}

TEST_F(IngestTest, LateBatchOfAReleasedShardMovesNothingAndTheCurrentLeaseCompletesIt) {
  CrawlStore store(db_.dsn());
  ProbingCrawl(store, "fenced");
  auto slow = store.LeaseShard("slow", 60s);
  ASSERT_TRUE(slow.ok() && *slow);
  ASSERT_EQ((*slow)->targets.size(), 3u);
  {
    auto c = db_.Connect();
    pqxx::work tx(*c);
    tx.exec("UPDATE shard SET lease_until = now() - interval '1 second'");
    tx.commit();
  }
  auto fast = store.LeaseShard("fast", 60s);
  ASSERT_TRUE(fast.ok() && *fast);
  // The stalled worker wakes up with two results and claims completion: stored (fast path),
  // the shard stays leased to the new owner.
  const auto& targets = (*slow)->targets;
  auto late =
      store.IngestProbes((*slow)->ref, {Probed(targets[0]), Probed(targets[1])}, true, "slow");
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_FALSE(late->lease_current);
  EXPECT_FALSE(late->shard_done);
  EXPECT_FALSE(late->merged);
  EXPECT_EQ(Count("SELECT count(*) FROM shard WHERE kind = 'probe' AND state = 'leased' "
                  "AND lease_owner = 'fast' AND items_done = 0"),
            1);
  // The current lease delivers all three: only the missing one is new, and the shard is done.
  std::vector<ProbeResult> all;
  for (const auto& t : (*fast)->targets) all.push_back(Probed(t));
  auto cur = store.IngestProbes((*fast)->ref, all, true, "fast");
  ASSERT_TRUE(cur.ok()) << cur.status();
  EXPECT_TRUE(cur->lease_current);
  EXPECT_FALSE(cur->merged);  // its stored rows found by the lookup
  EXPECT_EQ(cur->rows_inserted, 1);
  EXPECT_TRUE(cur->shard_done);
  EXPECT_EQ(Count("SELECT count(*) FROM probe"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM probe WHERE worker = 'slow'"), 2);
}

// A probe row is stored under its target id, so a result must be the target it names: a target
// of its lease's shard, with that target's address, port and name. Any other is refused whole,
// naming the worker and the target, with nothing stored and no shard moved; checked both against
// the targets the store leased (in memory) and, for a store that leased nothing (a restarted
// coordinator), against the target table.
TEST_F(IngestTest, ResultThatIsNotTheTargetItNamesIsRefusedAndNothingOfItsBatchStored) {
  CrawlStore store(db_.dsn());
  const int64_t id = ProbingCrawl(store, "checked");
  auto lease = store.LeaseShard("w", 60s);
  ASSERT_TRUE(lease.ok() && *lease);
  const auto& t = (*lease)->targets;
  ASSERT_EQ(t.size(), 3u);
  db_.AddTargets(id, 7, {Plain(1)});  // a target of another shard
  const std::string first = std::to_string(t[0].target_id);
  struct Case {
    ProbeResult result;
    std::string says;
  };
  std::vector<Case> cases;
  auto wrong = [&](auto change, const std::string& says) {
    ProbeResult r = Probed(t[0]);
    change(r);
    cases.push_back({r, says});
  };
  const std::string is_first = "target " + first + " is " + t[0].ip + " port 25 mx.a.test";
  wrong([&](ProbeResult& r) { r.ip = t[1].ip; }, is_first);
  wrong([&](ProbeResult& r) { r.port = 26; }, is_first);
  wrong([&](ProbeResult& r) { r.name = "mx.b.test"; }, is_first);
  wrong([&](ProbeResult& r) { r.target_id = 0; }, "without a target id");
  wrong([&](ProbeResult& r) { r.target_id = 999; },
        "crawl " + std::to_string(id) + " has no target 999");
  cases.push_back({Plain(1), "target 1001 is in shard 7"});
  CrawlStore fresh(db_.dsn());
  for (CrawlStore* s : {&store, &fresh}) {
    for (const Case& c : cases) {
      auto r = s->IngestProbes((*lease)->ref, {Probed(t[2]), c.result}, true, "w9");
      ASSERT_FALSE(r.ok()) << c.says;
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
      EXPECT_NE(r.status().message().find("worker 'w9' sent a result for "), std::string::npos)
          << r.status();
      EXPECT_NE(r.status().message().find(c.says), std::string::npos) << r.status();
    }
  }
  EXPECT_EQ(Count("SELECT count(*) FROM probe"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM shard WHERE kind = 'probe' AND state = 'leased' "
                  "AND items_done = 0"),
            1);
  // The same targets, truthfully: stored, and the shard is done.
  std::vector<ProbeResult> all;
  for (const auto& target : t) all.push_back(Probed(target));
  auto ok = fresh.IngestProbes((*lease)->ref, all, true, "w9");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->rows_inserted, 3);
  EXPECT_TRUE(ok->shard_done);
  // A result of the lease's own shard is accepted whatever the text of its address.
  db_.AddTargets(id, 0, {Full()});
  ProbeResult spelled = Full();
  spelled.ip = "2001:0db8:0:0::25";
  auto v6 = fresh.IngestProbes((*lease)->ref, {spelled}, false, "w9");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->rows_inserted, 1);
}

// Several batches in one transaction (the coordinator's grouping of queued batches): each batch
// is counted, fenced and completes its shard as if it had come alone, in order.
TEST_F(IngestTest, GroupedBatchesKeepTheirOwnCountsFencingAndOrder) {
  CrawlStore store(db_.dsn());
  const int64_t id = ProbingCrawl(store, "grouped");
  auto lease = store.LeaseShard("w", 60s);
  ASSERT_TRUE(lease.ok() && *lease);
  ASSERT_EQ((*lease)->targets.size(), 3u);
  std::vector<ProbeResult> part, rest, again;
  for (const auto& t : (*lease)->targets) (part.size() < 2 ? part : rest).push_back(Probed(t));
  again = {part[0]};
  // Unrelated new rows of the same crawl, in a batch of a lease that is not current.
  const LeaseRef other{id, ShardKind::kProbe, 99, 0};
  db_.AddTargets(id, 99, {Plain(1), Plain(2), Plain(3), Plain(4), Plain(5), Plain(6), Plain(7)});
  std::vector<ProbeResult> extra = {Plain(1), Plain(2)};
  // All new: one COPY for the three batches; the last one completes the shard.
  auto r = store.IngestProbeBatches({{other, &extra, false, "x"},
                                     {(*lease)->ref, &part, false, "w"},
                                     {(*lease)->ref, &rest, true, "w"}});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_FALSE((*r)[0].lease_current);
  EXPECT_EQ((*r)[0].rows_inserted, 2);
  EXPECT_TRUE((*r)[1].lease_current);
  EXPECT_FALSE((*r)[1].shard_done);
  EXPECT_EQ((*r)[1].rows_inserted, 2);
  EXPECT_FALSE((*r)[1].merged);
  EXPECT_TRUE((*r)[2].shard_done);
  EXPECT_EQ((*r)[2].rows_inserted, 1);
  EXPECT_EQ(Count("SELECT count(*) FROM shard WHERE kind = 'probe' AND state = 'done' "
                  "AND items_done = 3"),
            1);
  // A re-delivery grouped with a batch that repeats a target within the group: the COPY fails
  // on the primary key and every batch takes the merge, each counting only what it added.
  std::vector<ProbeResult> fresh = {Plain(3), Plain(4)}, dup = {Plain(4), Plain(5)};
  auto m = store.IngestProbeBatches(
      {{(*lease)->ref, &again, true, "w"}, {other, &fresh, false, "x"}, {other, &dup, false, "x"}});
  ASSERT_TRUE(m.ok()) << m.status();
  // The shard was done before this group: the late completion moves nothing.
  EXPECT_FALSE((*m)[0].lease_current);
  EXPECT_EQ((*m)[0].rows_inserted, 0);
  EXPECT_EQ((*m)[1].rows_inserted, 2);
  EXPECT_TRUE((*m)[1].merged);
  EXPECT_EQ((*m)[2].rows_inserted, 1);
  EXPECT_EQ(Count("SELECT count(*) FROM probe"), 8);
  EXPECT_EQ(Count("SELECT count(DISTINCT (ip, port, mx_name)) FROM probe"), 8);
  EXPECT_EQ(Count("SELECT count(*) FROM shard WHERE kind = 'probe' AND items_done = 3"), 1);
  // A bad address anywhere fails the whole group and stores nothing of it.
  ProbeResult bad = Plain(7);
  bad.ip = "nope";
  std::vector<ProbeResult> good = {Plain(6)}, broken = {bad};
  auto b = store.IngestProbeBatches({{other, &good, false, "x"}, {other, &broken, false, "x"}});
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Count("SELECT count(*) FROM probe"), 8);
}

// A deadlock between the ingestion and another transaction: the server rolls the ingestion's
// transaction back, and CrawlStore runs it again at once on the same connection (no new
// connection, no backoff), storing everything once.
TEST_F(IngestTest, DeadlockIsRunAgainOnTheSameConnection) {
  CrawlStore store(db_.dsn());
  const LeaseRef base = NewCrawl(store, "deadlock");
  const int64_t id = base.crawl_id;
  {
    auto c = db_.Connect();
    pqxx::work tx(*c);
    tx.exec("INSERT INTO shard (crawl_id, kind, shard_id) VALUES (" + std::to_string(id) +
            ", 'probe', 1), (" + std::to_string(id) + ", 'probe', 2)");
    tx.exec(
        "UPDATE target SET shard_id = CASE WHEN target_id < 1003 THEN 1 ELSE 2 END "
        "WHERE target_id IN (1001, 1002, 1003)");
    tx.commit();
  }
  ASSERT_EQ(store.connections_opened(), 1);
  const LeaseRef one{id, ShardKind::kProbe, 1, 0}, two{id, ShardKind::kProbe, 2, 0};
  std::vector<ProbeResult> a = {Plain(1), Plain(2)}, b = {Plain(3)};
  // The other transaction holds shard 2 and never runs the deadlock check itself: the
  // ingestion, which waits first, runs it after deadlock_timeout (1 s) and is the one undone.
  auto other = db_.Connect();
  pqxx::work otx(*other);
  otx.exec("SET LOCAL deadlock_timeout = '60s'");
  otx.exec("SELECT 1 FROM shard WHERE crawl_id = " + std::to_string(id) +
           " AND shard_id = 2 FOR UPDATE");
  absl::StatusOr<std::vector<IngestResult>> r = absl::UnknownError("not run");
  const auto start = std::chrono::steady_clock::now();
  // Locks shard 1, then waits for shard 2.
  std::thread ingest([&] {
    r = store.IngestProbeBatches({{one, &a, false, "w"}, {two, &b, false, "w"}});
  });
  const bool waiting = SomeSessionWaitsForALock();
  EXPECT_TRUE(waiting) << "the ingestion never waited for shard 2";
  // Now wants shard 1: a cycle. Returns once the ingestion's transaction is rolled back.
  otx.exec("SELECT 1 FROM shard WHERE crawl_id = " + std::to_string(id) +
           " AND shard_id = 1 FOR UPDATE");
  otx.commit();
  ingest.join();
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].rows_inserted, 2);
  EXPECT_EQ((*r)[1].rows_inserted, 1);
  EXPECT_EQ(store.connections_opened(), 1) << "the deadlock dropped the connection";
  EXPECT_LT(took, 10s);
  EXPECT_EQ(Count("SELECT count(*) FROM probe WHERE crawl_id = " + std::to_string(id)), 3);
}

}  // namespace
}  // namespace mxcensus::storage
