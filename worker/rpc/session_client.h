#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "proto/mxcensus.grpc.pb.h"
#include "worker/node/worker_node.h"

namespace mxcensus::worker {

struct WorkerMetrics;

struct SessionClientOptions {
  std::string coordinator = "127.0.0.1:7400";
  std::string token;     // bearer token; empty = none
  std::string tls_ca;    // PEM file: verify the coordinator with it (enables TLS)
  std::string tls_cert;  // PEM files: our client certificate (mutual TLS)
  std::string tls_key;
  std::string tls_server_name;  // override the name checked on the coordinator's certificate
  std::string worker_id;        // stable for this process
  uint32_t max_inflight = 0;
  uint32_t threads = 1;
  int capacity_shards = 4;  // shards this worker holds at once
  std::chrono::seconds heartbeat{5};
  std::chrono::milliseconds max_backoff{10000};
  WorkerMetrics* metrics = nullptr;  // optional; must outlive the client
};

// The worker's one long-lived stream to the coordinator, re-opened with backoff whenever it
// breaks. Results are kept until the coordinator acks them (after its commit) and re-sent after
// a reconnect; the coordinator never gets more assignments than the credit we gave it.
class SessionClient : public ResultSink {
 public:
  static absl::StatusOr<std::unique_ptr<SessionClient>> Create(SessionClientOptions opts);
  ~SessionClient() override;

  // Starts the connect loop; assignments go to `node`.
  void Start(WorkerNode* node);
  // Stops asking for work, waits until every shard is finished and every result acked (at
  // most `timeout`), then closes the stream. Returns false on timeout (unacked results remain).
  bool Drain(std::chrono::milliseconds timeout);

  // ResultSink (called on loop threads).
  void OnBatch(v1::ResultBatch batch) override;
  void OnSlotFree() override;
  void OnShardFinished() override;

  size_t unacked() const;
  uint64_t reconnects() const { return reconnects_.load(); }
  // Chain elements sent by SHA-256 alone (their DER stored at the coordinator already).
  uint64_t ders_elided() const { return ders_elided_.load(); }
  bool connected() const;

 private:
  class Stream;
  explicit SessionClient(SessionClientOptions opts);
  void ConnectLoop();
  void OnStreamMessage(const v1::CoordinatorMessage& m);
  void HeartbeatLoop();

  SessionClientOptions opts_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Coordinator::Stub> stub_;
  WorkerNode* node_ = nullptr;

  // A chain element's DER left out of a batch (its SHA-256 stands in): kept until the batch is
  // acked, to put back should the batch go again on a new stream.
  struct ElidedDer {
    int probe = 0;    // index in the batch
    int element = 0;  // index in the chain
    std::string der;
  };
  struct Unacked {
    std::shared_ptr<const v1::WorkerMessage> message;  // shared with the stream's write queue
    std::vector<ElidedDer> elided;
    // Certificates whose DER the message carries (SHA-256, as a leaf with its summary): the
    // coordinator stores them by the time it acks the batch.
    std::vector<std::pair<std::string, bool>> carried;
  };
  // Leaves out every DER the current stream's coordinator has acked as stored. REQUIRES: mu_.
  void ElideStoredLocked(v1::ResultBatch& batch, Unacked& entry);
  // The message of `entry` with every left-out DER back in it. REQUIRES: mu_.
  static void RestoreElidedLocked(Unacked& entry);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // By batch id, sent order.
  std::map<uint64_t, Unacked> unacked_;
  // SHA-256 of certificates acked as stored on the current stream -> stored with a leaf summary.
  // Forgotten at each new stream (the coordinator may be another one, on another database).
  std::unordered_map<std::string, bool> stored_certs_;
  static constexpr size_t kStoredCertsMax = 200000;
  uint64_t next_batch_id_ = 1;
  Stream* stream_ = nullptr;  // the live stream, if any
  bool draining_ = false;
  bool stopping_ = false;
  std::chrono::milliseconds heartbeat_;  // guarded by mu_; shrinks to a third of the lease
  std::atomic<uint64_t> reconnects_{0};
  std::atomic<uint64_t> ders_elided_{0};
  std::thread connect_thread_;
  std::thread heartbeat_thread_;
};

}  // namespace mxcensus::worker
