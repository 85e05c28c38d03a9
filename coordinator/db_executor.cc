#include "coordinator/db_executor.h"

namespace mxcensus::coordinator {

DbExecutor::DbExecutor(std::string dsn) : store_(std::move(dsn)), thread_([this] { Loop(); }) {}

DbExecutor::~DbExecutor() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void DbExecutor::Post(Task task) {
  {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

size_t DbExecutor::queued() const {
  std::lock_guard lock(mu_);
  return tasks_.size();
}

void DbExecutor::Loop() {
  while (true) {
    Task task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task(store_);
  }
}

}  // namespace mxcensus::coordinator
