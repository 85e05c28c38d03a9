// A worker sends each certificate's DER once per stream: once a batch that carried it is acked,
// later results name it by SHA-256 alone. Checked against a real coordinator and PostgreSQL:
// every certificate is stored exactly once and every probe row's chain is complete; a batch
// left without its DER while the stream was down goes again with it, to a coordinator on another
// database; and a coordinator never stores a batch that names a certificate it does not have.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <thread>

#include "coordinator/server.h"
#include "proto/convert.h"
#include "proto/mxcensus.grpc.pb.h"
#include "storage/crawl_store.h"
#include "storage/migrations.h"
#include "tests/harness/test_db.h"
#include "worker/metrics.h"
#include "worker/node/worker_node.h"
#include "worker/rpc/session_client.h"
#include "worker/tls/session_facts.h"

namespace mxcensus {
namespace {

using namespace std::chrono_literals;

using tls::Sha256Digest;

ProbeResult WithChain(int i, std::vector<std::string> chain);
ProbeResult Plain(int i);

// Migrates `db` and creates a crawl in it: id 1 in a fresh database, whose shard 0 has the
// targets of WithChain(i) and Plain(i) for i in 1..40. The batches come by hand: the crawl is
// cancelled so that the coordinator does not hand its targets to the test's worker.
int64_t NewCrawl(const testing::TestDatabase& db) {
  auto c = db.Connect();
  EXPECT_TRUE(storage::Migrate(*c).ok());
  storage::CrawlStore store(db.dsn());
  storage::CrawlSpec spec;
  spec.name = "certs";
  auto id = store.CreateCrawl(spec, {});
  EXPECT_TRUE(id.ok()) << id.status();
  if (!id.ok()) return 0;
  std::vector<ProbeResult> targets;
  for (int i = 1; i <= 40; ++i) {
    targets.push_back(WithChain(i, {}));
    targets.push_back(Plain(i));
  }
  db.AddTargets(*id, 0, targets);
  EXPECT_TRUE(store.CancelCrawl(*id).ok());
  return *id;
}

// A result of host `i` (target i) presenting `chain` (leaf first).
ProbeResult WithChain(int i, std::vector<std::string> chain) {
  ProbeResult r;
  r.target_id = static_cast<uint64_t>(i);
  r.ip = "192.0.2." + std::to_string(i);
  r.port = 25;
  r.name = "mx" + std::to_string(i) + ".example.test";
  r.outcome = ProbeOutcome::kStartTlsOk;
  r.stage = ProbeStage::kQuit;
  r.banner = "220 hi";
  r.timing_ms.total = 3;
  r.started_at_ms = 1795867200000 + i;
  TlsFacts t;
  t.version = "TLSv1.3";
  t.chain_der = std::move(chain);
  CertSummary leaf;
  leaf.subject = "CN=" + r.name;
  t.leaf = leaf;
  t.handshake_complete = true;
  r.tls = t;
  return r;
}

// A result of another host (target 1000 + i) without STARTTLS: no TLS part.
ProbeResult Plain(int i) {
  ProbeResult plain = WithChain(i, {});
  plain.target_id = 1000 + static_cast<uint64_t>(i);
  plain.ip = "198.51.100." + std::to_string(i);
  plain.outcome = ProbeOutcome::kNoStartTls;
  plain.tls.reset();
  return plain;
}

// A batch of hosts [from, from + n), all presenting the same two-certificate chain, and one
// without TLS. The lease
// is not current (no shard): the results are stored, no shard moves.
v1::ResultBatch Batch(int64_t crawl, int from, int n) {
  v1::ResultBatch b;
  b.set_crawl_id(static_cast<uint64_t>(crawl));
  b.set_kind(v1::SHARD_KIND_PROBE);
  for (int i = from; i < from + n; ++i) {
    ToProto(WithChain(i, {"leaf-der-shared", "intermediate-der"}), b.add_probes());
  }
  // And one host without STARTTLS: its result has no TLS part, and must not get one.
  ToProto(Plain(from), b.add_probes());
  return b;
}

class CertReferenceTest : public ::testing::Test {
 protected:
  std::unique_ptr<coordinator::CoordinatorServer> StartCoordinator(const testing::TestDatabase& db,
                                                                   int port) {
    coordinator::CoordinatorOptions core;
    core.dsn = db.dsn();
    coordinator::ServerOptions opts;
    opts.listen = "127.0.0.1:" + std::to_string(port);
    auto s = coordinator::CoordinatorServer::Start(core, opts);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }
  // A raw Session stream of worker `worker_id` (its hello sent) to the coordinator at `port`.
  struct RawStream {
    std::unique_ptr<v1::Coordinator::Stub> stub;
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReaderWriter<v1::WorkerMessage, v1::CoordinatorMessage>> stream;
  };
  static std::unique_ptr<RawStream> OpenStream(int port, const std::string& worker_id) {
    auto s = std::make_unique<RawStream>();
    s->stub = v1::Coordinator::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                           grpc::InsecureChannelCredentials()));
    s->ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    s->stream = s->stub->Session(&s->ctx);
    v1::WorkerMessage hello;
    hello.mutable_hello()->set_worker_id(worker_id);
    EXPECT_TRUE(s->stream->Write(hello));
    return s;
  }
  // Sends `batch` alone on a raw stream of worker `worker_id` to a coordinator on `db`, which
  // must end the stream itself without acking it. Returns how it ended.
  grpc::Status SendAlone(const testing::TestDatabase& db, const std::string& worker_id,
                         const v1::ResultBatch& batch) {
    auto server = StartCoordinator(db, 0);
    if (server == nullptr) return grpc::Status(grpc::StatusCode::INTERNAL, "no coordinator");
    auto raw = OpenStream(server->port(), worker_id);
    auto& stream = raw->stream;
    v1::WorkerMessage m;
    *m.mutable_results() = batch;
    m.mutable_results()->set_batch_id(1);
    EXPECT_TRUE(stream->Write(m));
    // No WritesDone: the stream must end by the coordinator's refusal.
    v1::CoordinatorMessage in;
    while (stream->Read(&in)) {
      EXPECT_FALSE(in.has_ack()) << "a batch was acked";
    }
    grpc::Status st = stream->Finish();
    server->Shutdown(100ms);
    return st;
  }
  // A worker session (client and node, started) to the coordinator at `port`.
  struct Worker {
    std::unique_ptr<worker::SessionClient> client;
    std::unique_ptr<worker::WorkerNode> node;
  };
  static Worker StartWorker(int port, const std::string& id,
                            worker::WorkerMetrics* metrics = nullptr) {
    worker::SessionClientOptions so;
    so.coordinator = "127.0.0.1:" + std::to_string(port);
    so.worker_id = id;
    so.max_backoff = 500ms;
    so.metrics = metrics;
    auto client = worker::SessionClient::Create(so);
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return {};
    worker::WorkerNodeOptions no;
    no.probe.ehlo_name = "scanner.example.test";
    auto node = worker::WorkerNode::Create(no, client->get());
    EXPECT_TRUE(node.ok()) << node.status();
    if (!node.ok()) return {};
    (*client)->Start(node->get());
    return {*std::move(client), *std::move(node)};
  }
  static bool WaitAcked(const worker::SessionClient& c) {
    for (int i = 0; i < 300 && c.unacked() > 0; ++i) std::this_thread::sleep_for(50ms);
    return c.unacked() == 0;
  }
  // Every TLS row of the crawl names both certificates of the chain, and both are stored; the
  // `plain` rows without TLS have no TLS columns.
  static void ExpectChainsComplete(const testing::TestDatabase& db, int64_t rows, int64_t plain) {
    const std::string id = "1";
    EXPECT_EQ(db.Count("SELECT count(*) FROM probe WHERE crawl_id = " + id), rows + plain);
    EXPECT_EQ(db.Count("SELECT count(*) FROM probe WHERE tls_handshake_complete IS NULL AND "
                       "tls_version IS NULL AND chain_sha256 IS NULL AND outcome = 'no_starttls'"),
              plain);
    EXPECT_EQ(db.Count("SELECT count(*) FROM probe WHERE crawl_id = " + id +
                       " AND chain_sha256 = ARRAY[sha256('leaf-der-shared'::bytea), "
                       "sha256('intermediate-der'::bytea)] AND leaf_sha256 = "
                       "sha256('leaf-der-shared'::bytea)"),
              rows);
    EXPECT_EQ(db.Count("SELECT count(*) FROM certificate"), 2);
    EXPECT_EQ(db.Count("SELECT count(*) FROM certificate WHERE sha256 = "
                       "sha256('leaf-der-shared'::bytea) AND der = 'leaf-der-shared'::bytea "
                       "AND subject IS NOT NULL"),
              1);
    EXPECT_EQ(db.Count("SELECT count(*) FROM certificate WHERE sha256 = "
                       "sha256('intermediate-der'::bytea) AND der = 'intermediate-der'::bytea"),
              1);
  }
};

TEST_F(CertReferenceTest, DerGoesOncePerStreamAndAgainToACoordinatorOnAnotherDatabase) {
  testing::TestDatabase db1, db2;
  ASSERT_EQ(NewCrawl(db1), 1);
  ASSERT_EQ(NewCrawl(db2), 1);
  auto first = StartCoordinator(db1, 0);
  ASSERT_NE(first, nullptr);
  const int port = first->port();

  Worker w = StartWorker(port, "cert-test");
  ASSERT_TRUE(w.client && w.node);
  worker::SessionClient& client = *w.client;

  // The first batch carries both DERs; once acked, the next ones carry none.
  client.OnBatch(Batch(1, 1, 5));
  ASSERT_TRUE(WaitAcked(client));
  EXPECT_EQ(client.ders_elided(), 0u);
  client.OnBatch(Batch(1, 6, 5));
  client.OnBatch(Batch(1, 11, 5));
  ASSERT_TRUE(WaitAcked(client));
  EXPECT_EQ(client.ders_elided(), 20u);
  ExpectChainsComplete(db1, 15, 3);

  // A batch that leaves both DERs out (this stream has them stored) is held up in the
  // database, and the coordinator goes away before acking it. Its replacement works on another
  // database: the batch must reach it with its DERs, else it would be refused for ever.
  auto lock_conn = db1.Connect();
  pqxx::work lock(*lock_conn);
  lock.exec("LOCK TABLE probe IN ACCESS EXCLUSIVE MODE");
  client.OnBatch(Batch(1, 16, 5));
  EXPECT_EQ(client.ders_elided(), 30u);
  first->Shutdown(100ms);
  for (int i = 0; i < 200 && client.reconnects() == 0; ++i) std::this_thread::sleep_for(50ms);
  ASSERT_GE(client.reconnects(), 1u) << "the stream outlived its coordinator";
  lock.commit();
  first.reset();  // its database thread stores the batch, but has nobody to ack it to
  ASSERT_EQ(client.unacked(), 1u);
  ExpectChainsComplete(db1, 20, 4);
  auto second = StartCoordinator(db2, port);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(WaitAcked(client)) << "the batch never got to the new coordinator";
  ExpectChainsComplete(db2, 5, 1);
  // The new stream had the DERs once; from then on they are left out again.
  client.OnBatch(Batch(1, 21, 5));
  ASSERT_TRUE(WaitAcked(client));
  client.OnBatch(Batch(1, 26, 5));
  ASSERT_TRUE(WaitAcked(client));
  EXPECT_EQ(client.ders_elided(), 50u);
  ExpectChainsComplete(db2, 15, 3);
  EXPECT_TRUE(client.Drain(5s));
  w.node->Stop();
  second->Shutdown(100ms);
}

TEST_F(CertReferenceTest, BatchNamingAnUnknownCertificateIsRefusedAndNothingOfItStored) {
  testing::TestDatabase db;
  ASSERT_EQ(NewCrawl(db), 1);
  // The leaf by SHA-256 alone: never stored here.
  v1::ResultBatch bad = Batch(1, 1, 3);
  for (auto& p : *bad.mutable_probes()) {
    if (!p.has_tls()) continue;
    auto* t = p.mutable_tls();
    t->add_chain_sha256(Sha256Digest(t->chain(0)));
    t->add_chain_sha256(Sha256Digest(t->chain(1)));
    t->mutable_chain(0)->clear();
  }
  const grpc::Status st = SendAlone(db, "raw", bad);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
  EXPECT_NE(st.error_message().find("not stored"), std::string::npos) << st.error_message();
  EXPECT_EQ(db.Count("SELECT count(*) FROM probe"), 0);
  EXPECT_EQ(db.Count("SELECT count(*) FROM certificate"), 0);
}

// A result is stored under its target id, so one that claims another target's id must be
// refused: nothing of its batch is stored. The batch would be refused again at every delivery,
// so the coordinator keeps it in refused_batch with the reason (naming the worker and the
// target) and acks it: the worker drops it, and its stream goes on. Delivered again (an ack lost
// with the stream), it is acked again and kept once.
TEST_F(CertReferenceTest, BatchWithAResultClaimingAnotherTargetIsKeptAsideAckedAndTheStreamGoesOn) {
  testing::TestDatabase db;
  ASSERT_EQ(NewCrawl(db), 1);
  auto server = StartCoordinator(db, 0);
  ASSERT_NE(server, nullptr);
  auto raw = OpenStream(server->port(), "liar");
  auto& stream = raw->stream;
  auto send = [&](const v1::ResultBatch& batch, uint64_t id) {
    v1::WorkerMessage m;
    *m.mutable_results() = batch;
    m.mutable_results()->set_batch_id(id);
    EXPECT_TRUE(stream->Write(m));
  };
  // The ids acked, then those named as refused (with the reason's start).
  std::vector<std::string> refusals;
  auto acked = [&] {
    v1::CoordinatorMessage in;
    while (stream->Read(&in)) {
      if (in.has_ack()) {
        for (const auto& r : in.ack().refused()) {
          refusals.push_back(std::to_string(r.batch_id()) + " " + r.reason().substr(0, 38));
        }
        return std::vector<uint64_t>(in.ack().batch_ids().begin(), in.ack().batch_ids().end());
      }
    }
    return std::vector<uint64_t>{};
  };
  v1::ResultBatch bad = Batch(1, 1, 3);
  bad.mutable_probes(1)->set_target_id(3);  // host 2's result as target 3
  send(bad, 1);
  EXPECT_EQ(acked(), std::vector<uint64_t>{1});
  // The same stream stores the next batch.
  send(Batch(1, 5, 2), 2);
  EXPECT_EQ(acked(), std::vector<uint64_t>{2});
  send(bad, 1);
  EXPECT_EQ(acked(), std::vector<uint64_t>{1});
  // The refused batch is named as such in its acks (the worker then keeps none of its
  // certificates for stored); the stored one is not.
  EXPECT_EQ(refusals, (std::vector<std::string>{"1 worker 'liar' sent a result for target",
                                                "1 worker 'liar' sent a result for target"}));
  stream->WritesDone();
  v1::CoordinatorMessage rest;
  while (stream->Read(&rest)) {
  }
  const grpc::Status st = stream->Finish();
  EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
  // Counted at each refusal, the second delivery's included.
  EXPECT_EQ(server->core().metrics().batches_refused->Value(), 2);
  server->Shutdown(100ms);

  // Only the good batch is stored: hosts 5 and 6 with their chain, and host 5 without TLS.
  auto c = db.Connect();
  pqxx::work tx(*c);
  auto text = [&](const std::string& sql) { return tx.exec(sql)[0][0].as<std::string>(); };
  EXPECT_EQ(text("SELECT string_agg(target_id::text, ',' ORDER BY target_id) FROM probe"),
            "5,6,1005");
  EXPECT_EQ(text("SELECT count(*) FROM refused_batch"), "1");
  EXPECT_EQ(text("SELECT crawl_id || ' ' || kind || ' ' || worker || ' ' || batch_id || ' ' || "
                 "items || ' ' || payload_items FROM refused_batch"),
            "1 probe liar 1 4 4");
  const std::string reason = text("SELECT reason FROM refused_batch");
  EXPECT_NE(reason.find("worker 'liar' sent a result for target 3 (192.0.2.2 port 25 "
                        "mx2.example.test)"),
            std::string::npos)
      << reason;
  EXPECT_NE(reason.find("target 3 is 192.0.2.3 port 25 mx3.example.test"), std::string::npos)
      << reason;
  // The payload is the batch as it came: the lying result, its chain (base64) included.
  EXPECT_EQ(text("SELECT (payload->1->>'target_id') || ' ' || (payload->1->>'ip') || ' ' || "
                 "(payload->1->>'name') || ' ' || jsonb_array_length(payload) FROM refused_batch"),
            "3 192.0.2.2 mx2.example.test 4");
  tx.commit();
  ExpectChainsComplete(db, 2, 1);
}

// A worker takes the certificates of an acked batch for stored, and later leaves their DERs
// out. Those of a refused batch are not stored: the next batch with the same chain must carry
// the DERs again, else the coordinator could not store it. Its results count as refused.
TEST_F(CertReferenceTest, RefusedBatchLeavesItsCertificatesUnstoredForTheWorker) {
  testing::TestDatabase db;
  ASSERT_EQ(NewCrawl(db), 1);
  auto server = StartCoordinator(db, 0);
  ASSERT_NE(server, nullptr);
  worker::WorkerMetrics metrics(std::make_shared<prometheus::Registry>());
  Worker w = StartWorker(server->port(), "refused-certs", &metrics);
  ASSERT_TRUE(w.client && w.node);
  worker::SessionClient& client = *w.client;

  v1::ResultBatch bad = Batch(1, 1, 3);
  bad.mutable_probes(1)->set_target_id(3);  // host 2's result as target 3
  client.OnBatch(bad);
  ASSERT_TRUE(WaitAcked(client));
  EXPECT_EQ(db.Count("SELECT count(*) FROM refused_batch"), 1);
  EXPECT_EQ(db.Count("SELECT count(*) FROM certificate"), 0);
  EXPECT_EQ(metrics.results_refused->Value(), 4);
  EXPECT_EQ(metrics.results_acked->Value(), 0);
  // The same chain again: sent with its DERs, stored, acked.
  client.OnBatch(Batch(1, 5, 2));
  ASSERT_TRUE(WaitAcked(client));
  EXPECT_EQ(client.ders_elided(), 0u);
  EXPECT_EQ(metrics.results_acked->Value(), 3);
  EXPECT_EQ(metrics.results_refused->Value(), 4);
  EXPECT_EQ(client.reconnects(), 0u);
  ExpectChainsComplete(db, 2, 1);
  EXPECT_TRUE(client.Drain(5s));
  w.node->Stop();
  server->Shutdown(100ms);
}

TEST_F(CertReferenceTest, StoreAcceptsAStoredCertificateBySha256Alone) {
  testing::TestDatabase db;
  ASSERT_EQ(NewCrawl(db), 1);
  storage::CrawlStore store(db.dsn());
  const storage::LeaseRef lease{1, storage::ShardKind::kProbe, 0, 0};
  ASSERT_TRUE(
      store.IngestProbes(lease, {WithChain(1, {"leaf-der-shared", "intermediate-der"})}, false, "w")
          .ok());
  // A second store (a restarted coordinator: nothing cached) gets both by reference.
  storage::CrawlStore fresh(db.dsn());
  std::vector<ProbeResult> batch;
  for (int i = 2; i <= 3; ++i) {
    ProbeResult r = WithChain(i, {"", ""});
    r.tls->chain_sha256 = {Sha256Digest("leaf-der-shared"), Sha256Digest("intermediate-der")};
    batch.push_back(std::move(r));
  }
  auto r = fresh.IngestProbes(lease, batch, false, "w");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rows_inserted, 2);
  ExpectChainsComplete(db, 3, 0);
  // One it does not have: refused, nothing stored, the store still usable.
  ProbeResult unknown = WithChain(4, {""});
  unknown.tls->chain_sha256 = {Sha256Digest("never-stored")};
  auto refused =
      fresh.IngestProbes(lease, {WithChain(5, {"leaf-der-shared"}), unknown}, false, "w");
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_EQ(db.Count("SELECT count(*) FROM probe"), 3);
  ASSERT_TRUE(fresh.IngestProbes(lease, {WithChain(5, {"leaf-der-shared"})}, false, "w").ok());
  EXPECT_EQ(db.Count("SELECT count(*) FROM probe"), 4);
}

}  // namespace
}  // namespace mxcensus
