// The coordinator's database writers against a real server: probe batches spread over several
// connections and grouped into transactions must each get their own answer, keep a shard's
// order, and a bad batch must not take the others of its group down with it.
#include "coordinator/db_executor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "storage/migrations.h"
#include "tests/harness/test_db.h"

namespace mxcensus::coordinator {
namespace {

// The result of target i + 1 (of shard (i / 20) % 4: batch b holds results 20b..20b+19).
ProbeResult Plain(int i) {
  ProbeResult r;
  r.target_id = static_cast<uint64_t>(i) + 1;
  r.ip = "198.51." + std::to_string(i / 250) + "." + std::to_string(i % 250);
  r.port = 25;
  r.name = "mx" + std::to_string(i) + ".example.test";
  r.outcome = ProbeOutcome::kNoStartTls;
  r.stage = ProbeStage::kQuit;
  r.started_at_ms = 1795867200000 + i;
  return r;
}

// Migrates `db` and creates a crawl in it; returns its id (0 if that failed).
int64_t NewCrawl(const testing::TestDatabase& db, const std::string& name,
                 const std::vector<storage::DomainInput>& domains = {},
                 int probe_shard_size = 250) {
  auto c = db.Connect();
  EXPECT_TRUE(storage::Migrate(*c).ok());
  storage::CrawlStore store(db.dsn());
  storage::CrawlSpec spec;
  spec.name = name;
  spec.probe_shard_size = probe_shard_size;
  auto id = store.CreateCrawl(spec, domains);
  EXPECT_TRUE(id.ok()) << id.status();
  return id.ok() ? *id : 0;
}

TEST(DbExecutorTest, BatchesOfManyShardsOnTwoWritersEachGetTheirAnswerInShardOrder) {
  testing::TestDatabase db;
  const int64_t crawl_id = NewCrawl(db, "executor");
  ASSERT_NE(crawl_id, 0);
  constexpr int kBatches = 40;
  for (int shard = 0; shard < 4; ++shard) {
    std::vector<ProbeResult> targets;
    for (int i = 0; i < kBatches * 20; ++i) {
      if ((i / 20) % 4 == shard) targets.push_back(Plain(i));
    }
    db.AddTargets(crawl_id, shard, targets);
  }
  DbExecutor exec(db.dsn(), 2, 50);
  ASSERT_EQ(exec.writers(), 2);
  std::mutex mu;
  std::condition_variable cv;
  int pending = 0;
  std::map<int, std::vector<int>> answered;  // shard -> batch numbers, in the order answered
  std::map<int, absl::StatusOr<storage::IngestResult>> results;
  {
    std::lock_guard lock(mu);
    pending = kBatches;
  }
  for (int b = 0; b < kBatches; ++b) {
    DbExecutor::ProbeIngest in;
    in.lease = storage::LeaseRef{crawl_id, storage::ShardKind::kProbe, b % 4, 0};
    for (int i = 0; i < 20; ++i) in.results.push_back(Plain(b * 20 + i));
    if (b == 13) in.results[5].ip = "not-an-address";
    if (b == 22) in.results[7].target_id = 1;          // target 1 is another address, of shard 0
    if (b == 27) in.results = {Plain(60), Plain(61)};  // stored by batch 3, same shard
    in.worker = "w";
    in.batch_id = static_cast<uint64_t>(b);
    in.done = [&, b](const absl::StatusOr<storage::IngestResult>& r) {
      std::lock_guard lock(mu);
      answered[b % 4].push_back(b);
      results.emplace(b, r);
      if (--pending == 0) cv.notify_all();
    };
    exec.PostIngest(std::move(in));
  }
  bool after_all = false;
  exec.PostAfterAll([&](storage::CrawlStore&) {
    std::lock_guard lock(mu);
    after_all = pending == 0;
    cv.notify_all();
  });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return after_all; }));
  }
  for (const auto& [shard, order] : answered) {
    EXPECT_TRUE(std::is_sorted(order.begin(), order.end())) << "shard " << shard;
    EXPECT_EQ(order.size(), static_cast<size_t>(kBatches / 4));
  }
  // The bad batches alone were refused, naming the address, or the worker and the target, and
  // kept in refused_batch (so they can be acked); their groups' other batches were stored.
  for (int b = 0; b < kBatches; ++b) {
    const auto& r = results.at(b);
    ASSERT_TRUE(r.ok()) << "batch " << b << ": " << r.status();
    EXPECT_EQ(r->refused, b == 13 || b == 22) << "batch " << b;
    if (b == 13) {
      EXPECT_NE(r->refusal.find("not-an-address"), std::string::npos) << r->refusal;
      continue;
    }
    if (b == 22) {
      EXPECT_NE(r->refusal.find("worker 'w' sent a result for target 1 "), std::string::npos)
          << r->refusal;
      continue;
    }
    EXPECT_EQ(r->rows_inserted, b == 27 ? 0 : 20) << "batch " << b;
  }
  EXPECT_EQ(db.Count("SELECT count(*) FROM probe"), (kBatches - 3) * 20);
  EXPECT_EQ(db.Count("SELECT count(DISTINCT (ip, port, mx_name)) FROM probe"), (kBatches - 3) * 20);
  // Both connections did some of the work.
  EXPECT_EQ(db.Count("SELECT count(DISTINCT pid) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                     "AND backend_type = 'client backend'"),
            2);
  auto c = db.Connect();
  pqxx::work tx(*c);
  EXPECT_EQ(tx.exec_params("SELECT string_agg(batch_id || ':' || worker || ':' || items || ':' || "
                           "payload_items || ':' || (reason = CASE batch_id WHEN 13 THEN $1 "
                           "ELSE $2 END), ' ' ORDER BY batch_id) FROM refused_batch",
                           results.at(13)->refusal, results.at(22)->refusal)[0][0]
                .as<std::string>(),
            "13:w:20:20:true 22:w:20:20:true");
  // The payload is the batch's results, with their target ids.
  EXPECT_EQ(tx.exec("SELECT payload->5->>'ip' || ' ' || (payload->7->>'target_id') FROM "
                    "refused_batch WHERE batch_id = 13")[0][0]
                .as<std::string>(),
            "not-an-address 268");
  EXPECT_EQ(tx.exec("SELECT payload->7->>'target_id' FROM refused_batch WHERE batch_id = 22")[0][0]
                .as<std::string>(),
            "1");
  tx.commit();
}

// Ingests `in` through `exec` and waits for its answer.
// Posts `in` and waits for its answer.
template <typename Batch>
absl::StatusOr<storage::IngestResult> Ingest(DbExecutor& exec, Batch in) {
  auto answer = std::make_shared<std::promise<absl::StatusOr<storage::IngestResult>>>();
  auto future = answer->get_future();
  in.done = [answer](const absl::StatusOr<storage::IngestResult>& r) { answer->set_value(r); };
  if constexpr (std::is_same_v<Batch, DbExecutor::ProbeIngest>) {
    exec.PostIngest(std::move(in));
  } else {
    exec.PostDomains(std::move(in));
  }
  return future.get();
}

// A resolved domain with one MX host at `ip`.
DomainResult Resolved(const std::string& domain, const std::string& ip) {
  DomainResult r;
  r.domain = domain;
  r.status = DnsStatus::kOk;
  MxHost h;
  h.name = "mx." + domain;
  h.preference = 10;
  h.ipv4 = {ip};
  r.mx.push_back(h);
  r.resolved_at_ms = 1795867200000;
  return r;
}

ProbeResult Probed(const storage::TargetRow& t) {
  ProbeResult r;
  r.target_id = static_cast<uint64_t>(t.target_id);
  r.ip = t.ip;
  r.port = t.port;
  r.name = t.mx_name;
  r.outcome = ProbeOutcome::kNoStartTls;
  r.stage = ProbeStage::kQuit;
  r.started_at_ms = 1795867200000;
  return r;
}

// A batch that cannot be stored as it is (a result claiming another target of its shard) must
// not stop the crawl: it is kept in refused_batch and answered as refused (the coordinator acks
// it), nothing of it is stored and it moves no progress; as it completed its shard, the shard
// goes back with its items missing, and the next lease probes only those. The crawl finishes
// with every target stored exactly once.
TEST(DbExecutorTest, RefusedBatchIsKeptAsideAndItsTargetsAreProbedUnderTheNextLease) {
  using namespace std::chrono_literals;
  testing::TestDatabase db;
  std::vector<storage::DomainInput> domains;
  for (int i = 0; i < 6; ++i) domains.push_back({"d" + std::to_string(i) + ".test", 0});
  const int64_t crawl_id = NewCrawl(db, "refused", domains, 4);
  ASSERT_NE(crawl_id, 0);
  storage::CrawlStore store(db.dsn());
  {
    auto lease = store.LeaseShard("resolver", 60s);
    ASSERT_TRUE(lease.ok() && *lease);
    std::vector<DomainResult> resolved;
    for (const auto& d : (*lease)->domains) {
      resolved.push_back(Resolved(d, "127.0.1." + std::to_string(resolved.size() + 1)));
    }
    ASSERT_EQ(resolved.size(), 6u);
    auto r = store.IngestDomains((*lease)->ref, resolved, true);
    ASSERT_TRUE(r.ok() && r->shard_done) << r.status();
    ASSERT_TRUE(store.AdvanceCrawls().ok());
  }
  ASSERT_EQ(db.Count("SELECT count(*) FROM target"), 6);
  DbExecutor exec(db.dsn(), 2);

  auto first = store.LeaseShard("w1", 60s);
  ASSERT_TRUE(first.ok() && *first) << first.status();
  const storage::Lease lease = **first;
  ASSERT_EQ(lease.targets.size(), 4u);
  DbExecutor::ProbeIngest good;
  good.lease = lease.ref;
  good.worker = "w1";
  good.batch_id = 1;
  good.results = {Probed(lease.targets[0]), Probed(lease.targets[1])};
  DbExecutor::ProbeIngest bad;
  bad.lease = lease.ref;
  bad.worker = "w1";
  bad.batch_id = 2;
  bad.results = {Probed(lease.targets[2]), Probed(lease.targets[3])};
  bad.results[1].target_id = static_cast<uint64_t>(lease.targets[0].target_id);
  bad.shard_complete = true;
  auto g = Ingest(exec, good);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->rows_inserted, 2);
  EXPECT_FALSE(g->refused);
  auto b = Ingest(exec, bad);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->refused);
  EXPECT_NE(b->refusal.find("worker 'w1' sent a result for target " +
                            std::to_string(lease.targets[0].target_id)),
            std::string::npos)
      << b->refusal;
  const std::string shard =
      " WHERE kind = 'probe' AND shard_id = " + std::to_string(lease.ref.shard_id);
  // Nothing of it stored, no progress counted; the shard went back with two items missing.
  EXPECT_EQ(db.Count("SELECT count(*) FROM probe"), 2);
  EXPECT_EQ(db.Count("SELECT count(*) FROM shard" + shard +
                     " AND state = 'pending' AND items_done = 2 AND lease_owner IS NULL AND "
                     "last_error = '2 items missing at completion'"),
            1);
  // Delivered again (its ack was lost): answered the same, kept once.
  auto again = Ingest(exec, bad);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->refused);
  EXPECT_EQ(
      db.Count("SELECT count(*) FROM refused_batch WHERE worker = 'w1' AND batch_id = 2 "
               "AND items = 2 AND payload_items = 2 AND kind = 'probe' AND crawl_id = " +
               std::to_string(crawl_id) + " AND lease_token = " + std::to_string(lease.ref.token) +
               " AND (payload->1->>'target_id')::bigint = " +
               std::to_string(lease.targets[0].target_id) + " AND payload->1->>'ip' = '" +
               lease.targets[3].ip + "'"),
      1);
  EXPECT_EQ(db.Count("SELECT count(*) FROM refused_batch"), 1);
  EXPECT_EQ(db.Count("SELECT count(*) FROM probe"), 2);

  // Another worker takes what is left: the other shard, and the refused targets of the first.
  int leases = 0;
  while (true) {
    auto next = store.LeaseShard("w2", 60s);
    ASSERT_TRUE(next.ok()) << next.status();
    if (!*next) break;
    ASSERT_LT(++leases, 5);
    if ((*next)->ref.shard_id == lease.ref.shard_id) {
      std::set<int64_t> ids;
      for (const auto& t : (*next)->targets) ids.insert(t.target_id);
      EXPECT_EQ(ids, (std::set<int64_t>{lease.targets[2].target_id, lease.targets[3].target_id}));
    }
    DbExecutor::ProbeIngest in;
    in.lease = (*next)->ref;
    in.worker = "w2";
    in.batch_id = static_cast<uint64_t>(leases);
    for (const auto& t : (*next)->targets) in.results.push_back(Probed(t));
    in.shard_complete = true;
    auto r = Ingest(exec, std::move(in));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->shard_done);
  }
  EXPECT_EQ(leases, 2);
  ASSERT_TRUE(store.AdvanceCrawls().ok());
  auto info = store.GetCrawl(crawl_id);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->state, "finished");
  EXPECT_EQ(db.Count("SELECT count(*) FROM probe"), 6);
  EXPECT_EQ(db.Count("SELECT count(*) FROM target t WHERE (SELECT count(*) FROM probe p WHERE "
                     "p.crawl_id = t.crawl_id AND p.target_id = t.target_id AND p.ip = t.ip AND "
                     "p.mx_name = t.mx_name) = 1"),
            6);
}

// A refused batch is acked only once it is kept: if keeping it fails, the answer is the error
// (the coordinator then ends the stream and the worker sends the batch again). What a worker
// sent is kept even when it is no text PostgreSQL takes as it is (a NUL, invalid UTF-8).
TEST(DbExecutorTest, RefusedBatchThatCannotBeKeptIsNotAnsweredAsRefused) {
  testing::TestDatabase db;
  const int64_t crawl_id = NewCrawl(db, "unkept");
  ASSERT_NE(crawl_id, 0);
  db.AddTargets(crawl_id, 0, {Plain(0), Plain(1)});
  DbExecutor exec(db.dsn(), 1);
  DbExecutor::ProbeIngest bad;
  bad.lease = storage::LeaseRef{crawl_id, storage::ShardKind::kProbe, 0, 0};
  bad.worker = std::string("w\0\xff", 3);
  bad.batch_id = 4;
  bad.results = {Plain(0), Plain(1)};
  bad.results[1].ip = std::string("198.51.0.1\0x", 12);
  bad.results[1].name = "mx\xff.example.test";
  auto run = [&](const std::string& sql) {
    auto c = db.Connect();
    pqxx::work tx(*c);
    tx.exec(sql);
    tx.commit();
  };
  run("ALTER TABLE refused_batch RENAME TO moved");
  auto r = Ingest(exec, bad);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(db.Count("SELECT count(*) FROM probe"), 0);
  run("ALTER TABLE moved RENAME TO refused_batch");
  r = Ingest(exec, bad);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->refused);
  EXPECT_EQ(db.Count("SELECT count(*) FROM probe"), 0);
  EXPECT_EQ(db.Count("SELECT count(*) FROM refused_batch WHERE worker = 'w\uFFFD' AND "
                     "reason LIKE '%198.51.0.1x%' AND payload->1->>'ip' = '198.51.0.1\uFFFDx' "
                     "AND payload->1->>'name' = 'mx\uFFFD.example.test'"),
            1);
}

// A resolve batch that cannot be stored as it is (an address that is not one, a domain of no
// shard of its lease, text the database refuses) is kept and answered as refused, as a probe
// batch is: nothing of it is stored, and its domains are resolved again under the next lease.
TEST(DbExecutorTest, RefusedResolveBatchIsKeptAsideAndItsDomainsResolvedUnderTheNextLease) {
  using namespace std::chrono_literals;
  testing::TestDatabase db;
  std::vector<storage::DomainInput> domains;
  for (int i = 0; i < 6; ++i) domains.push_back({"d" + std::to_string(i) + ".test", 0});
  const int64_t crawl_id = NewCrawl(db, "refused-resolve", domains);
  ASSERT_NE(crawl_id, 0);
  storage::CrawlStore store(db.dsn());
  auto first = store.LeaseShard("w1", 60s);
  ASSERT_TRUE(first.ok() && *first) << first.status();
  const storage::Lease lease = **first;
  ASSERT_EQ(lease.ref.kind, storage::ShardKind::kResolve);
  ASSERT_EQ(lease.domains.size(), 6u);
  const std::vector<std::string>& d = lease.domains;
  DbExecutor exec(db.dsn(), 1);
  auto batch = [&](uint64_t id, std::vector<DomainResult> results, bool complete = false) {
    DbExecutor::DomainIngest in;
    in.lease = lease.ref;
    in.worker = "w1";
    in.batch_id = id;
    in.results = std::move(results);
    in.shard_complete = complete;
    return in;
  };
  auto good = Ingest(exec, batch(1, {Resolved(d[0], "127.0.1.1"), Resolved(d[1], "127.0.1.2")}));
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_FALSE(good->refused);
  EXPECT_EQ(good->rows_inserted, 2);

  auto bad_ip =
      Ingest(exec, batch(2, {Resolved(d[2], "127.0.1.3"), Resolved(d[3], "127.0.1.999")}));
  ASSERT_TRUE(bad_ip.ok()) << bad_ip.status();
  EXPECT_TRUE(bad_ip->refused);
  EXPECT_NE(bad_ip->refusal.find("worker 'w1' sent a resolve batch under its lease of crawl " +
                                 std::to_string(crawl_id) + " shard " +
                                 std::to_string(lease.ref.shard_id) + ": domain " + d[3] +
                                 ", MX mx." + d[3] + ": '127.0.1.999' is not an IPv4 address"),
            std::string::npos)
      << bad_ip->refusal;

  auto foreign = Ingest(
      exec, batch(3, {Resolved(d[2], "127.0.1.3"), Resolved("elsewhere.test", "127.0.1.4")}));
  ASSERT_TRUE(foreign.ok()) << foreign.status();
  EXPECT_TRUE(foreign->refused);
  EXPECT_NE(foreign->refusal.find("domain elsewhere.test is not one of its shard's domains"),
            std::string::npos)
      << foreign->refusal;

  // A NUL in a text column: only the database says no. It also completed the shard.
  DomainResult nul = Resolved(d[4], "127.0.1.5");
  nul.mx[0].cname = std::string("alias\0.test", 11);
  auto refused_by_db = Ingest(exec, batch(4, {Resolved(d[5], "127.0.1.6"), nul}, true));
  ASSERT_TRUE(refused_by_db.ok()) << refused_by_db.status();
  EXPECT_TRUE(refused_by_db->refused);
  EXPECT_NE(refused_by_db->refusal.find("the database refuses a value"), std::string::npos)
      << refused_by_db->refusal;
  EXPECT_NE(refused_by_db->refusal.find("0x00"), std::string::npos) << refused_by_db->refusal;

  // Nothing of the refused batches stored, no progress counted for them; the shard went back.
  EXPECT_EQ(db.Count("SELECT count(*) FROM crawl_domain WHERE status IS NOT NULL"), 2);
  EXPECT_EQ(db.Count("SELECT count(*) FROM mx_host"), 2);
  EXPECT_EQ(db.Count("SELECT count(*) FROM domain_mx"), 2);
  EXPECT_EQ(db.Count("SELECT count(*) FROM shard WHERE kind = 'resolve' AND state = 'pending' "
                     "AND items_done = 2 AND lease_owner IS NULL"),
            1);
  EXPECT_EQ(db.Count("SELECT count(*) FROM refused_batch WHERE kind = 'resolve' AND worker = 'w1' "
                     "AND items = 2 AND payload_items = 2 AND lease_token = " +
                     std::to_string(lease.ref.token)),
            3);
  EXPECT_EQ(db.Count("SELECT count(*) FROM refused_batch WHERE batch_id = 2 AND "
                     "payload->1->>'domain' = '" +
                     d[3] + "' AND reason LIKE '%127.0.1.999%'"),
            1);
  EXPECT_EQ(db.Count("SELECT count(*) FROM refused_batch WHERE batch_id = 4 AND "
                     "payload->1->'mx'->0->>'cname' = 'alias\uFFFD.test'"),
            1);
  // Delivered again (its ack was lost): answered the same, kept once.
  auto again = Ingest(exec, batch(2, {Resolved(d[2], "127.0.1.3"), Resolved(d[3], "127.0.1.999")}));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->refused);
  EXPECT_EQ(db.Count("SELECT count(*) FROM refused_batch"), 3);

  // The next lease has the four domains left, and resolving them moves the crawl on.
  auto next = store.LeaseShard("w2", 60s);
  ASSERT_TRUE(next.ok() && *next) << next.status();
  EXPECT_EQ(std::set<std::string>((*next)->domains.begin(), (*next)->domains.end()),
            (std::set<std::string>{d[2], d[3], d[4], d[5]}));
  std::vector<DomainResult> rest;
  for (size_t i = 0; i < (*next)->domains.size(); ++i) {
    rest.push_back(Resolved((*next)->domains[i], "127.0.2." + std::to_string(i + 1)));
  }
  DbExecutor::DomainIngest in;
  in.lease = (*next)->ref;
  in.worker = "w2";
  in.batch_id = 1;
  in.results = rest;
  in.shard_complete = true;
  auto r = Ingest(exec, std::move(in));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->refused);
  EXPECT_TRUE(r->shard_done);
  ASSERT_TRUE(store.AdvanceCrawls().ok());
  EXPECT_EQ(db.Count("SELECT count(*) FROM crawl_domain WHERE status = 'ok'"), 6);
  EXPECT_EQ(db.Count("SELECT count(*) FROM target"), 6);
}

// A probe result whose text the database refuses (a NUL that a worker should have replaced) is
// refused with its batch alone, not taken for a database failure: the other batch of its group
// is stored, and this one kept aside and answered, so the worker does not re-send it forever.
TEST(DbExecutorTest, ProbeTextTheDatabaseRefusesIsRefusedWithItsBatchAlone) {
  testing::TestDatabase db;
  const int64_t crawl_id = NewCrawl(db, "nul");
  ASSERT_NE(crawl_id, 0);
  db.AddTargets(crawl_id, 0, {Plain(0), Plain(1)});
  db.AddTargets(crawl_id, 1, {Plain(2), Plain(3)});
  DbExecutor exec(db.dsn(), 1);
  DbExecutor::ProbeIngest good;
  good.lease = storage::LeaseRef{crawl_id, storage::ShardKind::kProbe, 0, 0};
  good.worker = "w";
  good.batch_id = 1;
  good.results = {Plain(0), Plain(1)};
  DbExecutor::ProbeIngest bad;
  bad.lease = storage::LeaseRef{crawl_id, storage::ShardKind::kProbe, 1, 0};
  bad.worker = "w";
  bad.batch_id = 2;
  bad.results = {Plain(2), Plain(3)};
  bad.results[1].banner = std::string("220 mx\0 ESMTP", 13);
  // Posted back to back on one writer: one group, one transaction, until the refusal splits it.
  auto good_answer = std::make_shared<std::promise<absl::StatusOr<storage::IngestResult>>>();
  auto bad_answer = std::make_shared<std::promise<absl::StatusOr<storage::IngestResult>>>();
  auto good_future = good_answer->get_future();
  auto bad_future = bad_answer->get_future();
  good.done = [good_answer](const absl::StatusOr<storage::IngestResult>& r) {
    good_answer->set_value(r);
  };
  bad.done = [bad_answer](const absl::StatusOr<storage::IngestResult>& r) {
    bad_answer->set_value(r);
  };
  exec.PostIngest(std::move(good));
  exec.PostIngest(std::move(bad));
  auto g = good_future.get();
  auto b = bad_future.get();
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_FALSE(g->refused);
  EXPECT_EQ(g->rows_inserted, 2);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->refused);
  EXPECT_NE(b->refusal.find("the database refuses a value"), std::string::npos) << b->refusal;
  EXPECT_EQ(db.Count("SELECT count(*) FROM probe"), 2);
  EXPECT_EQ(db.Count("SELECT count(*) FROM probe WHERE target_id IN (3, 4)"), 0);
  EXPECT_EQ(db.Count("SELECT count(*) FROM refused_batch WHERE kind = 'probe' AND batch_id = 2 "
                     "AND payload->1->>'banner' = '220 mx\uFFFD ESMTP'"),
            1);
}

}  // namespace
}  // namespace mxcensus::coordinator
