// The coordinator's database writers against a real server: probe batches spread over several
// connections and grouped into transactions must each get their own answer, keep a shard's
// order, and a bad batch must not take the others of its group down with it.
#include "coordinator/db_executor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
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

TEST(DbExecutorTest, BatchesOfManyShardsOnTwoWritersEachGetTheirAnswerInShardOrder) {
  testing::TestDatabase db;
  {
    auto c = db.Connect();
    ASSERT_TRUE(storage::Migrate(*c).ok());
  }
  int64_t crawl_id = 0;
  {
    storage::CrawlStore store(db.dsn());
    storage::CrawlSpec spec;
    spec.name = "executor";
    auto id = store.CreateCrawl(spec, {});
    ASSERT_TRUE(id.ok()) << id.status();
    crawl_id = *id;
  }
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
    if (b == 22) in.results[7].target_id = 1;  // target 1 is another address, of shard 0
    if (b == 27) in.results = {Plain(60), Plain(61)};  // stored by batch 3, same shard
    in.worker = "w";
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
  // The bad batches alone failed, naming the address, or the worker and the target; their
  // groups' other batches were stored.
  for (int b = 0; b < kBatches; ++b) {
    const auto& r = results.at(b);
    if (b == 13) {
      ASSERT_FALSE(r.ok());
      EXPECT_NE(r.status().message().find("not-an-address"), std::string::npos) << r.status();
      continue;
    }
    if (b == 22) {
      ASSERT_FALSE(r.ok());
      EXPECT_NE(r.status().message().find("worker 'w' sent a result for target 1 "),
                std::string::npos)
          << r.status();
      continue;
    }
    ASSERT_TRUE(r.ok()) << "batch " << b << ": " << r.status();
    EXPECT_EQ(r->rows_inserted, b == 27 ? 0 : 20) << "batch " << b;
  }
  EXPECT_EQ(db.Count("SELECT count(*) FROM probe"), (kBatches - 3) * 20);
  EXPECT_EQ(db.Count("SELECT count(DISTINCT (ip, port, mx_name)) FROM probe"), (kBatches - 3) * 20);
  // Both connections did some of the work.
  EXPECT_EQ(db.Count("SELECT count(DISTINCT pid) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                     "AND backend_type = 'client backend'"),
            2);
}

}  // namespace
}  // namespace mxcensus::coordinator
