#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "coordinator/db_executor.h"
#include "coordinator/metrics.h"

namespace mxcensus::coordinator {

struct SessionHandle;

struct CoordinatorOptions {
  std::string dsn;
  std::chrono::seconds lease_duration{30};
  std::chrono::milliseconds tick{250};  // how often crawls are advanced and idle workers fed
  std::string token;                    // empty: no bearer token required
  // Database connections that ingest results concurrently (batches of different shards).
  int db_writers = 2;
};

// Everything the gRPC handlers share: the database executor, the registry of live sessions,
// the ticker that advances crawls, the token check and the metrics. Thread-safe.
class CoordinatorCore {
 public:
  CoordinatorCore(CoordinatorOptions options, std::shared_ptr<CoordinatorMetrics> metrics);
  ~CoordinatorCore();

  // True when the call carries the right bearer token (or none is required).
  bool Authorized(const grpc::ServerContextBase* context) const;

  DbExecutor& db() { return *db_; }
  CoordinatorMetrics& metrics() { return *metrics_; }
  const CoordinatorOptions& options() const { return options_; }

  void Register(const std::shared_ptr<SessionHandle>& h);
  void Unregister(const std::shared_ptr<SessionHandle>& h);
  int sessions() const;
  // Asks every worker to drain (before shutdown).
  void DrainAll(const std::string& reason);

 private:
  void Tick();
  // Ticker thread: shard and progress gauges from the database, at most once a second.
  void PublishSnapshot(storage::CrawlStore& store);

  CoordinatorOptions options_;
  std::shared_ptr<CoordinatorMetrics> metrics_;
  std::unique_ptr<DbExecutor> db_;
  mutable std::mutex mu_;
  std::set<std::shared_ptr<SessionHandle>> sessions_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point last_snapshot_{};  // ticker thread only
  std::thread ticker_;
};

}  // namespace mxcensus::coordinator
