#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace mxcensus::worker {

// A libuv loop on its own thread. Other threads reach it only through Post(), which queues a
// function and wakes the loop with uv_async_send (the one thread-safe libuv call).
class LoopThread {
 public:
  LoopThread();
  // Runs Stop() if needed and joins.
  ~LoopThread();
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  // Starts the thread; `init` runs first on it (create engines there).
  void Start(std::function<void()> init);
  // Thread-safe. Functions posted after Stop() are dropped.
  void Post(std::function<void()> fn);
  // Runs `fini` on the loop. `fini` shuts down what runs there and calls `done` (on the loop)
  // once nothing of it is left but handles already closing; the loop then ends as soon as
  // every handle has closed.
  using Fini = std::function<void(std::function<void()> done)>;
  void Stop(Fini fini);
  // Waits for the loop thread to end (after Stop()).
  void Join();
  uv_loop_t* loop() { return &loop_; }

 private:
  static void OnAsync(uv_async_t* async);

  uv_loop_t loop_;
  uv_async_t async_;
  std::mutex mu_;
  std::deque<std::function<void()>> queue_;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace mxcensus::worker
