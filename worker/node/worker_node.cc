#include "worker/node/worker_node.h"

#include <uv.h>

#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>

#include "proto/convert.h"
#include "worker/metrics.h"
#include "worker/net/fd_limit.h"
#include "worker/node/loop_thread.h"

namespace mxcensus::worker {

// One shard being worked on by one loop thread. Loop thread only.
struct WorkerNode::ShardRun {
  v1::ResultBatch pending;  // results not yet handed to the sink
  size_t outstanding = 0;   // items submitted and not yet done
  size_t items = 0;         // items of the assignment
  bool resolve = false;
  bool slot_freed = false;  // handed its capacity slot back at its tail (OnSlotFree)
};

struct WorkerNode::ThreadState {
  LoopThread loop;
  std::unique_ptr<probe::ProbeEngine> engine;
  std::unique_ptr<dns::DomainResolver> resolver;
  uv_timer_t flush_timer;
  std::map<ShardKey, std::unique_ptr<ShardRun>> shards;
  std::atomic<int> load{0};
  absl::Status init_status;
  WorkerNode* node = nullptr;
  int shutting_down = 0;          // engines whose Shutdown has not reported idle yet
  std::function<void()> stopped;  // LoopThread's `done`, once both are gone
  LoopMetricsCursor published;    // this loop's share of the node's metrics
};

namespace {

v1::ResultBatch NewBatch(const v1::ShardAssignment& a, bool resolve) {
  v1::ResultBatch b;
  b.set_crawl_id(a.crawl_id());
  b.set_shard_id(a.shard_id());
  b.set_lease_token(a.lease_token());
  b.set_kind(resolve ? v1::SHARD_KIND_RESOLVE : v1::SHARD_KIND_PROBE);
  return b;
}

}  // namespace

WorkerNode::WorkerNode(WorkerNodeOptions opts, ResultSink* sink)
    : opts_(std::move(opts)), sink_(sink) {}

absl::StatusOr<std::unique_ptr<WorkerNode>> WorkerNode::Create(WorkerNodeOptions opts,
                                                               ResultSink* sink) {
  if (opts.threads < 1) return absl::InvalidArgumentError("--threads must be at least 1");
  net::RaiseDescriptorLimit();
  std::unique_ptr<WorkerNode> node(new WorkerNode(std::move(opts), sink));
  const int n = node->opts_.threads;
  std::mutex mu;
  std::condition_variable cv;
  int ready = 0;
  for (int i = 0; i < n; ++i) {
    auto t = std::make_unique<ThreadState>();
    ThreadState* ts = t.get();
    node->threads_.push_back(std::move(t));
    probe::ProbeEngineOptions po = node->opts_.probe;
    po.slow_concurrency = probe::PerThreadSlowConcurrency(po, n);
    po.concurrency = std::max<size_t>(1, po.concurrency / static_cast<size_t>(n));
    po.rate = po.rate / n;
    dns::ResolverOptions dopts = node->opts_.dns;
    WorkerNode* self = node.get();
    ts->node = self;
    ts->loop.Start(
        [ts, po = std::move(po), dopts = std::move(dopts), self, &mu, &cv, &ready]() mutable {
          auto engine = probe::ProbeEngine::Create(ts->loop.loop(), std::move(po));
          auto resolver = dns::DomainResolver::Create(ts->loop.loop(), std::move(dopts));
          if (!engine.ok()) {
            ts->init_status = engine.status();
          } else if (!resolver.ok()) {
            ts->init_status = resolver.status();
          } else {
            ts->engine = *std::move(engine);
            ts->resolver = *std::move(resolver);
          }
          uv_timer_init(ts->loop.loop(), &ts->flush_timer);
          ts->flush_timer.data = ts;
          const uint64_t every = static_cast<uint64_t>(self->opts_.batch_interval_ms);
          uv_timer_start(
              &ts->flush_timer,
              [](uv_timer_t* timer) {
                // Results stream out as they finish: a partial batch waits at most one interval.
                auto* st = static_cast<ThreadState*>(timer->data);
                if (auto* m = st->node->opts_.metrics) {
                  m->Publish(st->published, st->engine.get(), st->resolver.get());
                }
                for (auto& [key, run] : st->shards) {
                  if (run->pending.probes_size() + run->pending.domains_size() > 0) {
                    st->node->Emit(st, key, run.get(), false);
                  }
                }
              },
              every, every);
          std::lock_guard lock(mu);
          ++ready;
          cv.notify_all();
        });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return ready == n; });
  for (auto& t : node->threads_) {
    if (!t->init_status.ok()) {
      node->Stop();
      return t->init_status;
    }
  }
  return node;
}

WorkerNode::~WorkerNode() { Stop(); }

int WorkerNode::CapacityShards(const WorkerNodeOptions& o, int probe_shard_size) {
  // Probes parked in the slow budget (tarpits) keep their shard open while the main budget
  // goes on: hold enough shards for both budgets.
  const size_t per_thread = (o.probe.concurrency + probe::PerThreadSlowConcurrency(o.probe, 1)) /
                            static_cast<size_t>(std::max(1, o.threads));
  const size_t size = static_cast<size_t>(std::max(1, probe_shard_size));
  return o.threads * static_cast<int>((per_thread + size - 1) / size + 1);
}

bool WorkerNode::Assign(v1::ShardAssignment a) {
  const ShardKey key{a.crawl_id(), a.shard_id()};
  {
    std::lock_guard lock(running_mu_);
    auto it = running_.find(key);
    if (it != running_.end()) {
      // Our lease ran out while we were still at it and we got the shard again: carry on
      // under the new token (the items are the ones we are already working on).
      ThreadState* t = it->second;
      const uint64_t token = a.lease_token();
      t->loop.Post([t, key, token] {
        auto run = t->shards.find(key);
        if (run != t->shards.end()) run->second->pending.set_lease_token(token);
      });
      return false;
    }
  }
  // Least loaded thread: shards differ in size (a shard's remainder after a re-lease).
  ThreadState* best = nullptr;
  for (auto& t : threads_) {
    if (best == nullptr || t->load.load() < best->load.load()) best = t.get();
  }
  ++shards_in_progress_;
  if (auto* m = opts_.metrics) m->shards_in_progress->Increment();
  best->load += 1;
  {
    std::lock_guard lock(running_mu_);
    running_[key] = best;
  }
  best->loop.Post([this, best, a = std::move(a)]() mutable { RunShard(best, std::move(a)); });
  return true;
}

void WorkerNode::Emit(ThreadState* t, ShardKey key, ShardRun* run, bool complete) {
  // The results move out (no copy of 250 results and their chains); the header stays.
  v1::ResultBatch out;
  out.Swap(&run->pending);
  run->pending.set_crawl_id(out.crawl_id());
  run->pending.set_shard_id(out.shard_id());
  run->pending.set_lease_token(out.lease_token());
  run->pending.set_kind(out.kind());
  out.set_shard_complete(complete);
  counters_.batches++;
  sink_->OnBatch(std::move(out));
  if (complete) {
    {
      std::lock_guard lock(running_mu_);
      running_.erase(key);
    }
    const bool slot_freed = run->slot_freed;
    t->shards.erase(key);  // destroys `run`
    t->load -= 1;
    if (slot_freed) --tail_shards_;
    --shards_in_progress_;
    if (auto* m = opts_.metrics) m->shards_in_progress->Decrement();
    sink_->OnShardFinished();
    if (!slot_freed) sink_->OnSlotFree();
  }
}

void WorkerNode::MaybeFreeSlot(ShardRun* run) {
  if (run->slot_freed || run->outstanding * opts_.tail_divisor > run->items) return;
  const int cap = opts_.max_tail_shards_per_thread * static_cast<int>(threads_.size());
  if (tail_shards_.fetch_add(1) >= cap) {
    --tail_shards_;
    return;
  }
  run->slot_freed = true;
  sink_->OnSlotFree();
}

void WorkerNode::ItemDone(ThreadState* t, ShardKey key, ShardRun* run) {
  --run->outstanding;
  const auto n = static_cast<size_t>(run->pending.probes_size() + run->pending.domains_size());
  if (run->outstanding == 0) {
    Emit(t, key, run, true);
    return;
  }
  MaybeFreeSlot(run);
  if (n >= opts_.batch_size) Emit(t, key, run, false);
}

void WorkerNode::RunShard(ThreadState* t, v1::ShardAssignment a) {
  const ShardKey key{a.crawl_id(), a.shard_id()};
  auto owned = std::make_unique<ShardRun>();
  ShardRun* run = owned.get();
  run->resolve = a.has_resolve();
  if (!run->resolve && !a.has_probe()) {
    // The coordinator always sends one of the two: this one completes empty.
    fprintf(stderr, "worker: shard %u of crawl %llu has no work part; completing it empty\n",
            a.shard_id(), static_cast<unsigned long long>(a.crawl_id()));
    if (auto* m = opts_.metrics) m->bug_unknown_assignment->Increment();
  }
  run->pending = NewBatch(a, run->resolve);
  run->outstanding =
      static_cast<size_t>(run->resolve ? a.resolve().domains_size() : a.probe().targets_size());
  run->items = run->outstanding;
  t->shards[key] = std::move(owned);
  if (run->outstanding == 0) {
    Emit(t, key, run, true);
    return;
  }
  if (run->resolve) {
    for (const auto& d : a.resolve().domains()) {
      t->resolver->Resolve(d, [this, t, key, run](DomainResult&& res) {
        if (auto* m = opts_.metrics) m->domains[static_cast<size_t>(res.status)]->Increment();
        ToProto(res, run->pending.add_domains());
        counters_.domains++;
        ItemDone(t, key, run);
      });
    }
    return;
  }
  for (const auto& pt : a.probe().targets()) {
    probe::ProbeEngine::Target target;
    target.ip = pt.ip();
    target.port = static_cast<uint16_t>(pt.port());
    target.name = pt.name();
    target.tag = pt.tag();
    target.target_id = pt.target_id();
    t->engine->Submit(std::move(target), [this, t, key, run](ProbeResult&& res) {
      if (auto* m = opts_.metrics) m->ObserveProbe(res);
      ToProto(std::move(res), run->pending.add_probes());
      counters_.probes++;
      ItemDone(t, key, run);
    });
  }
}

void WorkerNode::Stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& t : threads_) {
    ThreadState* ts = t.get();
    ts->loop.Stop([ts](std::function<void()> done) {
      uv_timer_stop(&ts->flush_timer);
      ts->stopped = std::move(done);
      // The engines are destroyed from a fresh loop callback, never inside their own on_idle.
      auto reap = [](uv_timer_t* timer) {
        auto* st = static_cast<ThreadState*>(timer->data);
        if (auto* m = st->node->opts_.metrics) {
          m->Publish(st->published, st->engine.get(), st->resolver.get());
          m->Retire(st->published);
        }
        st->engine.reset();
        st->resolver.reset();
        uv_close(reinterpret_cast<uv_handle_t*>(&st->flush_timer), nullptr);
        st->stopped();
      };
      auto idle = [ts, reap] {
        if (--ts->shutting_down == 0) uv_timer_start(&ts->flush_timer, reap, 0, 0);
      };
      ts->shutting_down = (ts->engine ? 1 : 0) + (ts->resolver ? 1 : 0);
      if (ts->shutting_down == 0) {
        uv_timer_start(&ts->flush_timer, reap, 0, 0);
        return;
      }
      if (ts->engine) ts->engine->Shutdown(idle);
      if (ts->resolver) ts->resolver->Shutdown(idle);
    });
  }
  // Join before destroying: a ThreadState's engines die on its loop, not in its destructor.
  for (auto& t : threads_) t->loop.Join();
  threads_.clear();
}

}  // namespace mxcensus::worker
