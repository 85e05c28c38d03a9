// StartCrawl as a client stream against a real coordinator and PostgreSQL: a list sent in
// several chunks becomes one crawl cut into resolve shards across chunk boundaries; a stream
// that breaks or carries a bad message leaves no crawl (and no domain) behind.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <thread>

#include "coordinator/server.h"
#include "proto/mxcensus.grpc.pb.h"
#include "storage/migrations.h"
#include "tests/harness/test_db.h"

namespace mxcensus::coordinator {
namespace {

class CrawlStartStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = db_.Connect();
    ASSERT_TRUE(storage::Migrate(*c).ok());
    CoordinatorOptions core;
    core.dsn = db_.dsn();
    ServerOptions opts;
    opts.listen = "127.0.0.1:0";
    auto s = CoordinatorServer::Start(core, opts);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    stub_ = v1::Coordinator::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }
  int64_t Count(const std::string& sql) { return db_.Count(sql); }
  static v1::StartCrawlRequest Chunk(int from, int n) {
    v1::StartCrawlRequest m;
    for (int i = from; i < from + n; ++i) m.add_domains("d" + std::to_string(i) + ".example");
    return m;
  }

  testing::TestDatabase db_;
  std::unique_ptr<CoordinatorServer> server_;
  std::unique_ptr<v1::Coordinator::Stub> stub_;
};

TEST_F(CrawlStartStreamTest, ChunksBecomeOneCrawl) {
  grpc::ClientContext ctx;
  v1::StartCrawlResponse resp;
  auto w = stub_->StartCrawl(&ctx, &resp);
  auto first = Chunk(0, 1200);
  first.set_name("streamed");
  first.set_port(2525);
  first.set_resolve_shard_size(500);
  ASSERT_TRUE(w->Write(first));
  auto ranked = Chunk(1200, 700);
  for (int i = 0; i < ranked.domains_size(); ++i) ranked.add_ranks(1201 + i);
  ASSERT_TRUE(w->Write(ranked));
  ASSERT_TRUE(w->Write(Chunk(1900, 100)));
  ASSERT_TRUE(w->WritesDone());
  auto st = w->Finish();
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.domains(), 2000u);
  const std::string id = std::to_string(resp.crawl_id());
  EXPECT_EQ(Count("SELECT domains_total FROM crawl WHERE port = 2525 AND crawl_id = " + id), 2000);
  EXPECT_EQ(Count("SELECT count(*) FROM crawl_domain WHERE crawl_id = " + id), 2000);
  EXPECT_EQ(Count("SELECT count(*) FROM crawl_domain WHERE rank IS NOT NULL AND crawl_id = " + id),
            700);
  // Shards of 500 cut across the chunks: 0..3, the last one shared by chunks 2 and 3.
  EXPECT_EQ(Count("SELECT count(*) FROM shard WHERE kind = 'resolve' AND items = 500 AND "
                  "crawl_id = " +
                  id),
            4);
  EXPECT_EQ(Count("SELECT count(*) FROM crawl_domain WHERE shard_id = 3 AND domain = "
                  "'d1999.example' AND crawl_id = " +
                  id),
            1);
}

TEST_F(CrawlStartStreamTest, ClientGoneMidStreamLeavesNoCrawl) {
  grpc::ClientContext ctx;
  v1::StartCrawlResponse resp;
  auto w = stub_->StartCrawl(&ctx, &resp);
  auto first = Chunk(0, 10000);
  first.set_name("broken");
  ASSERT_TRUE(w->Write(first));
  ASSERT_TRUE(w->Write(Chunk(10000, 10000)));
  // Cancel while the coordinator's COPY of the list is open, then wait until it has ended.
  // Only this test's database: the server is shared with tests that run beside this one, and
  // ChunksBecomeOneCrawl's COPY counted here once (2, not 1).
  const std::string copying =
      "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
      "state <> 'idle' AND query LIKE 'COPY crawl_domain%'";
  for (int i = 0; i < 100 && Count(copying) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(Count(copying), 1) << "the coordinator never started loading the list";
  ctx.TryCancel();
  EXPECT_FALSE(w->Finish().ok());
  for (int i = 0; i < 100 && Count(copying) > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(Count(copying), 0) << "the coordinator kept the broken upload open";
  EXPECT_EQ(Count("SELECT count(*) FROM crawl"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM crawl_domain"), 0);
}

TEST_F(CrawlStartStreamTest, BadMessageMidStreamIsNamedAndLeavesNoCrawl) {
  grpc::ClientContext ctx;
  v1::StartCrawlResponse resp;
  auto w = stub_->StartCrawl(&ctx, &resp);
  auto first = Chunk(0, 100);
  first.set_name("bad");
  ASSERT_TRUE(w->Write(first));
  auto bad = Chunk(100, 10);
  bad.add_ranks(1);  // 1 rank for 10 domains
  w->Write(bad);
  w->WritesDone();
  auto st = w->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("message 2"), std::string::npos) << st.error_message();
  EXPECT_EQ(Count("SELECT count(*) FROM crawl"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM crawl_domain"), 0);
}

TEST_F(CrawlStartStreamTest, EmptyStreamIsRefused) {
  grpc::ClientContext ctx;
  v1::StartCrawlResponse resp;
  auto w = stub_->StartCrawl(&ctx, &resp);
  v1::StartCrawlRequest named;
  named.set_name("empty");
  ASSERT_TRUE(w->Write(named));
  w->WritesDone();
  EXPECT_EQ(w->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Count("SELECT count(*) FROM crawl"), 0);
}

}  // namespace
}  // namespace mxcensus::coordinator
