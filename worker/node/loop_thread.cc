#include "worker/node/loop_thread.h"

#include <cstdio>
#include <cstdlib>

namespace mxcensus::worker {

LoopThread::LoopThread() {
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &async_, &LoopThread::OnAsync);
  async_.data = this;
}

LoopThread::~LoopThread() {
  if (thread_.joinable()) {
    Stop(nullptr);
    thread_.join();
  }
  if (uv_loop_close(&loop_) != 0) {
    // Not fatal at exit, but it means a handle leaked: say so.
    fprintf(stderr, "worker: loop closed with handles still open\n");
  }
}

void LoopThread::Start(std::function<void()> init) {
  thread_ = std::thread([this, init = std::move(init)] {
    if (init) init();
    uv_run(&loop_, UV_RUN_DEFAULT);
  });
}

void LoopThread::Join() {
  if (thread_.joinable()) thread_.join();
}

void LoopThread::Post(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    queue_.push_back(std::move(fn));
  }
  uv_async_send(&async_);
}

void LoopThread::Stop(Fini fini) {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    queue_.push_back([this, fini = std::move(fini)] {
      // Closing the async handle lets uv_run return once the other handles have closed.
      auto done = [this] {
        auto* h = reinterpret_cast<uv_handle_t*>(&async_);
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      };
      if (fini) {
        fini(done);
      } else {
        done();
      }
    });
    stopped_ = true;
  }
  uv_async_send(&async_);
}

void LoopThread::OnAsync(uv_async_t* async) {
  auto* self = static_cast<LoopThread*>(async->data);
  std::deque<std::function<void()>> batch;
  {
    std::lock_guard lock(self->mu_);
    batch.swap(self->queue_);
  }
  for (auto& fn : batch) fn();
}

}  // namespace mxcensus::worker
