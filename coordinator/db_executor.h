#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "storage/crawl_store.h"

namespace mxcensus::coordinator {

// A thread that owns one CrawlStore (one PostgreSQL connection) and runs posted tasks in order.
// gRPC reactions never touch the database: they post here and get their answer in a callback,
// which runs on this thread. FIFO order keeps one worker's batches in the order they arrived.
class DbExecutor {
 public:
  using Task = std::function<void(storage::CrawlStore&)>;

  explicit DbExecutor(std::string dsn);
  ~DbExecutor();  // runs what is queued, then joins
  DbExecutor(const DbExecutor&) = delete;
  DbExecutor& operator=(const DbExecutor&) = delete;

  // Thread-safe.
  void Post(Task task);
  size_t queued() const;

 private:
  void Loop();

  storage::CrawlStore store_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> tasks_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace mxcensus::coordinator
