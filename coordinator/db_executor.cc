#include "coordinator/db_executor.h"

#include <atomic>
#include <type_traits>

namespace mxcensus::coordinator {

DbExecutor::DbExecutor(std::string dsn, int writers, size_t max_group_rows)
    : max_group_rows_(max_group_rows), lease_targets_(std::make_shared<storage::LeaseTargets>()) {
  for (int i = 0; i < std::max(1, writers); ++i) {
    writers_.push_back(std::make_unique<Writer>(dsn));
    writers_.back()->store.ShareLeaseTargets(lease_targets_);
  }
  for (auto& w : writers_) {
    Writer* p = w.get();
    p->thread = std::thread([this, p] { Loop(*p); });
  }
}

DbExecutor::~DbExecutor() {
  for (auto& w : writers_) {
    // What is queued still runs (and answers), but each call makes one attempt: with the
    // database away, a queue of lease renewals at a 60 s retry budget each held shutdown for
    // as long as the queue was (measured: `scan` interrupted with its database stopped).
    w->store.StopRetrying();
    {
      std::lock_guard lock(w->mu);
      w->stopping = true;
    }
    w->cv.notify_all();
  }
  for (auto& w : writers_) w->thread.join();
}

void DbExecutor::Enqueue(Writer& w, Item item) {
  {
    std::lock_guard lock(w.mu);
    w.items.push_back(std::move(item));
  }
  w.cv.notify_one();
}

DbExecutor::Writer& DbExecutor::ForShard(const storage::LeaseRef& shard) {
  // The multipliers are odd, so with two writers a crawl's probe shards go by their parity:
  // its even shards to one writer, its odd ones to the other. Those are the two slots of the
  // crawl's probe partition (0009_probe_slots.sql), so each writer extends its own relation and
  // never waits for the other's extension lock. Other writer counts work as well, sharing the
  // slots.
  const uint64_t h = static_cast<uint64_t>(shard.crawl_id) * 1000003u +
                     static_cast<uint64_t>(shard.kind) * 7919u +
                     static_cast<uint64_t>(static_cast<uint32_t>(shard.shard_id));
  return *writers_[h % writers_.size()];
}

void DbExecutor::Post(Task task) {
  Writer* best = writers_.front().get();
  size_t least = SIZE_MAX;
  for (auto& w : writers_) {
    std::lock_guard lock(w->mu);
    if (w->items.size() < least) {
      least = w->items.size();
      best = w.get();
    }
  }
  Enqueue(*best, std::move(task));
}

namespace {

// `result`, or for an InvalidArgument the refusal once `batch` is kept in refused_batch (or the
// error that kept it from being kept).
template <typename Batch>
absl::StatusOr<storage::IngestResult> KeepIfRefused(storage::CrawlStore& store, const Batch& batch,
                                                    absl::StatusOr<storage::IngestResult> result) {
  if (!absl::IsInvalidArgument(result.status())) return result;
  // It will never be stored as it is: re-sending it would be refused again, forever, and hold
  // up the worker's later batches. Kept aside, it can be acked; its items are probed (or
  // resolved) again under a later lease. Recorded on this writer, after the refused transaction
  // rolled back, so the shard's batches still run in order.
  storage::CrawlStore::RefusedBatch refused;
  refused.lease = batch.lease;
  refused.worker = batch.worker;
  refused.batch_id = batch.batch_id;
  refused.shard_complete = batch.shard_complete;
  if constexpr (std::is_same_v<Batch, DbExecutor::ProbeIngest>) {
    refused.probes = &batch.results;
  } else {
    refused.domains = &batch.results;
  }
  refused.reason = std::string(result.status().message());
  auto recorded = store.RecordRefusedBatch(refused);
  if (!recorded.ok()) return recorded.status();  // nothing kept: not acked, sent again
  storage::IngestResult out;
  out.refused = true;
  out.refusal = std::move(refused.reason);
  return out;
}

}  // namespace

void DbExecutor::PostForShard(const storage::LeaseRef& shard, Task task) {
  Enqueue(ForShard(shard), std::move(task));
}

void DbExecutor::PostIngest(ProbeIngest batch) {
  Writer& w = ForShard(batch.lease);
  Enqueue(w, std::move(batch));
}

void DbExecutor::PostDomains(DomainIngest batch) {
  const storage::LeaseRef lease = batch.lease;
  PostForShard(lease, [b = std::move(batch)](storage::CrawlStore& s) {
    b.done(KeepIfRefused(s, b, s.IngestDomains(b.lease, b.results, b.shard_complete, b.worker)));
  });
}

void DbExecutor::PostAfterAll(Task task) {
  // A countdown posted to every writer: the last one to reach it runs the task.
  auto left = std::make_shared<std::atomic<int>>(writers());
  auto shared = std::make_shared<Task>(std::move(task));
  for (auto& w : writers_) {
    Enqueue(*w, Task([left, shared](storage::CrawlStore& s) {
      if (left->fetch_sub(1) == 1) (*shared)(s);
    }));
  }
}

size_t DbExecutor::queued() const {
  size_t n = 0;
  for (const auto& w : writers_) {
    std::lock_guard lock(w->mu);
    n += w->items.size();
  }
  return n;
}

void DbExecutor::RunGroup(storage::CrawlStore& store, std::vector<ProbeIngest>& group) {
  std::vector<storage::CrawlStore::ProbeBatch> batches;
  batches.reserve(group.size());
  for (const auto& b : group) {
    batches.push_back({b.lease, &b.results, b.shard_complete, b.worker});
  }
  auto r = store.IngestProbeBatches(batches);
  if (!r.ok() && group.size() > 1 && !absl::IsUnavailable(r.status()) &&
      !absl::IsAborted(r.status())) {
    // One bad batch (an address that is not one, a result that is not the target it names, ...)
    // must not fail the others: alone, each gets its own answer. A lost server or a transaction
    // rolled back again and again (after CrawlStore's own retries) is no batch's fault: all get
    // that answer.
    for (size_t i = 0; i < group.size(); ++i) {
      Answer(store, group[i],
             store.IngestProbes(group[i].lease, group[i].results, group[i].shard_complete,
                                group[i].worker));
    }
    return;
  }
  for (size_t i = 0; i < group.size(); ++i) {
    if (r.ok()) {
      group[i].done((*r)[i]);
    } else {
      Answer(store, group[i], r.status());
    }
  }
}

void DbExecutor::Answer(storage::CrawlStore& store, ProbeIngest& batch,
                        absl::StatusOr<storage::IngestResult> result) {
  batch.done(KeepIfRefused(store, batch, std::move(result)));
}

void DbExecutor::Loop(Writer& w) {
  while (true) {
    Item item;
    std::vector<ProbeIngest> group;
    {
      std::unique_lock lock(w.mu);
      w.cv.wait(lock, [&] { return w.stopping || !w.items.empty(); });
      if (w.items.empty()) return;
      item = std::move(w.items.front());
      w.items.pop_front();
      if (auto* first = std::get_if<ProbeIngest>(&item)) {
        // The probe batches of the same crawl queued right behind it join it; anything else
        // stays behind them, in order.
        size_t rows = first->results.size();
        const int64_t crawl_id = first->lease.crawl_id;
        group.push_back(std::move(*first));
        while (!w.items.empty()) {
          auto* next = std::get_if<ProbeIngest>(&w.items.front());
          if (next == nullptr || next->lease.crawl_id != crawl_id ||
              rows + next->results.size() > max_group_rows_) {
            break;
          }
          rows += next->results.size();
          group.push_back(std::move(*next));
          w.items.pop_front();
        }
      }
    }
    if (!group.empty()) {
      RunGroup(w.store, group);
    } else {
      std::get<Task>(item)(w.store);
    }
  }
}

}  // namespace mxcensus::coordinator
