#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "storage/crawl_store.h"
#include "storage/lease_targets.h"

namespace mxcensus::coordinator {

// The coordinator's database writers: `writers` threads, each owning one CrawlStore (one
// PostgreSQL connection) and running its posted tasks in order. gRPC reactions never touch the
// database: they post here and get their answer in a callback, which runs on a writer thread.
// Ingestion is spread over the writers (the server's per-row work is most of its cost, and
// a backend uses one core); all batches of one shard go to the same writer, so they keep the
// order in which they arrived, and lease fencing sees them in that order.
class DbExecutor {
 public:
  using Task = std::function<void(storage::CrawlStore&)>;
  // A worker's batch of probe results. Batches of the same crawl queued back to back on one
  // writer are ingested in one transaction (see CrawlStore::IngestProbeBatches); `done` runs
  // for each after that transaction's commit (or failure), in order.
  struct ProbeIngest {
    storage::LeaseRef lease;
    std::vector<ProbeResult> results;
    bool shard_complete = false;
    std::string worker;
    uint64_t batch_id = 0;  // the worker's number of the batch, kept if it is refused
    // A batch that cannot be stored as it is (InvalidArgument) is kept in refused_batch
    // (CrawlStore::RecordRefusedBatch) and answered with an IngestResult whose `refused` is set;
    // only if that record fails is the answer an error.
    std::function<void(const absl::StatusOr<storage::IngestResult>&)> done;
  };
  // A worker's batch of domain results: ingested alone, on its shard's writer. Refused and kept
  // as a ProbeIngest is.
  struct DomainIngest {
    storage::LeaseRef lease;
    std::vector<DomainResult> results;
    bool shard_complete = false;
    std::string worker;
    uint64_t batch_id = 0;
    std::function<void(const absl::StatusOr<storage::IngestResult>&)> done;
  };
  // Rows in one transaction at most: enough to amortise the per-statement and commit costs,
  // little enough that a group does not hold the acks of its first batches long.
  static constexpr size_t kMaxGroupRows = 5000;

  explicit DbExecutor(std::string dsn, int writers = 2, size_t max_group_rows = kMaxGroupRows);
  ~DbExecutor();  // runs what is queued, then joins
  DbExecutor(const DbExecutor&) = delete;
  DbExecutor& operator=(const DbExecutor&) = delete;

  // Thread-safe. On the least busy writer.
  void Post(Task task);
  // On the writer of `shard`, after whatever was posted for the same shard before.
  void PostForShard(const storage::LeaseRef& shard, Task task);
  void PostIngest(ProbeIngest batch);
  void PostDomains(DomainIngest batch);
  // Runs once everything posted before, on every writer, has run.
  void PostAfterAll(Task task);
  size_t queued() const;
  int writers() const { return static_cast<int>(writers_.size()); }
  // The targets of the shards leased through any writer, shared by all of them: a shard may be
  // leased on one writer and its results checked on another.
  storage::LeaseTargets& lease_targets() { return *lease_targets_; }

 private:
  using Item = std::variant<Task, ProbeIngest>;
  struct Writer {
    explicit Writer(std::string dsn) : store(std::move(dsn)) {}
    storage::CrawlStore store;
    mutable std::mutex mu;
    std::condition_variable cv;
    std::deque<Item> items;
    bool stopping = false;
    std::thread thread;
  };
  void Enqueue(Writer& w, Item item);
  Writer& ForShard(const storage::LeaseRef& shard);
  void Loop(Writer& w);
  static void RunGroup(storage::CrawlStore& store, std::vector<ProbeIngest>& group);
  static void Answer(storage::CrawlStore& store, ProbeIngest& batch,
                     absl::StatusOr<storage::IngestResult> result);

  const size_t max_group_rows_;
  std::shared_ptr<storage::LeaseTargets> lease_targets_;
  std::vector<std::unique_ptr<Writer>> writers_;
};

}  // namespace mxcensus::coordinator
