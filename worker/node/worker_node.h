#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/status.h"
#include "proto/mxcensus.pb.h"
#include "worker/dns/resolver.h"
#include "worker/probe/engine.h"

namespace mxcensus::worker {

class LoopThread;

struct WorkerMetrics;

struct WorkerNodeOptions {
  int threads = 1;
  probe::ProbeEngineOptions probe;  // probe.concurrency is for the whole node
  dns::ResolverOptions dns;
  size_t batch_size = 250;  // results per batch at most
  // A partial batch goes out after this long. Each batch is one transaction at the coordinator
  // with a fixed cost in PostgreSQL CPU whatever its size (docs/crawl.md "Pipeline cost").
  int batch_interval_ms = 1000;
  // A shard whose outstanding items are at most 1/tail_divisor of its size hands its capacity
  // slot back (its slow tail keeps running): a silent DNS name or a tarpit host must not hold a
  // whole shard's slot through its timeouts and retries. At most max_tail_shards_per_thread
  // shards per loop are in that state; beyond it a shard keeps its slot until it finishes.
  size_t tail_divisor = 20;
  int max_tail_shards_per_thread = 256;
  WorkerMetrics* metrics = nullptr;  // optional; must outlive the node
};

// Where a node's output goes. Called on loop threads; implementations must be thread-safe.
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  // A batch of results of one shard (the last one has shard_complete set).
  virtual void OnBatch(v1::ResultBatch batch) = 0;
  // One more shard of capacity is free: a shard finished, or only its slow tail is left (it
  // keeps running and does not free its slot again when it finishes).
  virtual void OnSlotFree() = 0;
  // A shard finished: every one of its results went to OnBatch.
  virtual void OnShardFinished() = 0;
};

// The work side of a worker: N libuv loop threads, each with its own ProbeEngine and
// DomainResolver, sharing one TLS context and chain-verification cache. Shards are spread over
// the threads; results stream out in batches as probes finish, not at shard end.
class WorkerNode {
 public:
  static absl::StatusOr<std::unique_ptr<WorkerNode>> Create(WorkerNodeOptions opts,
                                                            ResultSink* sink);
  ~WorkerNode();  // Stop()s if needed

  // Shards to hold at once: enough to keep `concurrency` (+ slow_concurrency) probes busy with
  // one shard to spare
  // per thread, so that a loop never idles while its next shard is on the way.
  static int CapacityShards(const WorkerNodeOptions& opts, int probe_shard_size = 250);

  // Thread-safe: runs the shard on the least loaded thread. A shard this node is already
  // running (its lease expired and came back to us) keeps running under the new lease token;
  // returns false in that case, and the caller's capacity slot for it is free again.
  bool Assign(v1::ShardAssignment assignment);
  int shards_in_progress() const { return shards_in_progress_.load(); }
  // Shards that still hold a capacity slot (in progress, minus those down to their tail).
  int slots_held() const { return shards_in_progress_.load() - tail_shards_.load(); }
  int tail_shards() const { return tail_shards_.load(); }
  // Finishes what is in flight (no new shards should be assigned), then closes the loops.
  void Stop();

  struct Counters {
    std::atomic<uint64_t> probes{0}, domains{0}, batches{0};
  };
  const Counters& counters() const { return counters_; }

 private:
  struct ThreadState;
  struct ShardRun;
  using ShardKey = std::pair<uint64_t, uint32_t>;  // (crawl, shard)
  WorkerNode(WorkerNodeOptions opts, ResultSink* sink);
  // Loop thread of `t` only.
  void RunShard(ThreadState* t, v1::ShardAssignment a);
  void ItemDone(ThreadState* t, ShardKey key, ShardRun* run);
  void Emit(ThreadState* t, ShardKey key, ShardRun* run, bool complete);
  // Hands the shard's slot back once only its tail is left (see tail_divisor).
  void MaybeFreeSlot(ShardRun* run);

  WorkerNodeOptions opts_;
  ResultSink* sink_;
  std::vector<std::unique_ptr<ThreadState>> threads_;
  std::atomic<int> shards_in_progress_{0};
  std::atomic<int> tail_shards_{0};  // running shards that handed their slot back
  std::mutex running_mu_;
  std::map<ShardKey, ThreadState*> running_;  // guarded by running_mu_
  Counters counters_;
  bool stopped_ = false;
};

}  // namespace mxcensus::worker
