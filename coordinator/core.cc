#include "coordinator/core.h"

#include <cstdio>

#include "coordinator/session/session_reactor.h"

namespace mxcensus::coordinator {

CoordinatorCore::CoordinatorCore(CoordinatorOptions options,
                                 std::shared_ptr<CoordinatorMetrics> metrics)
    : options_(std::move(options)),
      metrics_(std::move(metrics)),
      db_(std::make_unique<DbExecutor>(options_.dsn, options_.db_writers)),
      ticker_([this] { Tick(); }) {}

CoordinatorCore::~CoordinatorCore() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  ticker_.join();
  db_.reset();
}

bool CoordinatorCore::Authorized(const grpc::ServerContextBase* context) const {
  if (options_.token.empty()) return true;
  const auto& md = context->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return false;
  const std::string value(it->second.data(), it->second.size());
  const std::string expected = "Bearer " + options_.token;
  // Constant-time comparison: the token is a secret.
  if (value.size() != expected.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < value.size(); ++i)
    diff |= static_cast<unsigned char>(value[i] ^ expected[i]);
  return diff == 0;
}

void CoordinatorCore::Register(const std::shared_ptr<SessionHandle>& h) {
  std::lock_guard lock(mu_);
  sessions_.insert(h);
  metrics_->workers_connected->Set(static_cast<double>(sessions_.size()));
}

void CoordinatorCore::Unregister(const std::shared_ptr<SessionHandle>& h) {
  std::lock_guard lock(mu_);
  sessions_.erase(h);
  metrics_->workers_connected->Set(static_cast<double>(sessions_.size()));
}

int CoordinatorCore::sessions() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(sessions_.size());
}

void CoordinatorCore::DrainAll(const std::string& reason) {
  std::set<std::shared_ptr<SessionHandle>> sessions;
  {
    std::lock_guard lock(mu_);
    sessions = sessions_;
  }
  for (const auto& h : sessions) {
    std::lock_guard lock(h->mu);
    if (h->reactor != nullptr) h->reactor->Drain(reason);
  }
}

void CoordinatorCore::Tick() {
  // The ticker has its own connection: advancing crawls never waits behind ingestion.
  storage::CrawlStore store(options_.dsn);
  store.set_retry_budget(std::chrono::milliseconds(0));
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, options_.tick, [this] { return stopping_; });
    if (stopping_) break;
    auto sessions = sessions_;
    lock.unlock();
    auto changed = store.AdvanceCrawls();
    if (!changed.ok()) {
      fprintf(stderr, "coordinator: advance crawls: %s\n",
              std::string(changed.status().message()).c_str());
      if (absl::IsInternal(changed.status())) metrics_->bug_advance_sql->Increment();
    }
    metrics_->ingest_queue->Set(static_cast<double>(db_->queued()));
    PublishSnapshot(store);
    // Workers with unused credit get work that appeared since they asked (a crawl started,
    // a stage advanced, a lease expired).
    for (const auto& h : sessions) {
      std::lock_guard hl(h->mu);
      if (h->reactor != nullptr) h->reactor->RequestWork();
    }
    lock.lock();
  }
}

void CoordinatorCore::PublishSnapshot(storage::CrawlStore& store) {
  // Once a second is plenty for a scrape interval of seconds, and keeps the queries rare.
  const auto now = std::chrono::steady_clock::now();
  if (now - last_snapshot_ < std::chrono::seconds(1)) return;
  last_snapshot_ = now;
  auto snap = store.Snapshot();
  if (!snap.ok()) return;  // the database is away; AdvanceCrawls has said so
  auto& m = *metrics_;
  for (size_t k = 0; k < m.kShardKinds.size(); ++k) {
    for (size_t st = 0; st < m.kShardStates.size(); ++st) {
      auto it = snap->shards.find({m.kShardKinds[k], m.kShardStates[st]});
      m.shard_gauges[k][st]->Set(it == snap->shards.end() ? 0 : static_cast<double>(it->second));
    }
    auto p = snap->progress.find(m.kShardKinds[k]);
    m.progress_gauges[k]->Set(p == snap->progress.end() ? 0 : p->second);
  }
}

}  // namespace mxcensus::coordinator
