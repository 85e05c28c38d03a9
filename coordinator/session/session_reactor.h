#pragma once

#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "proto/mxcensus.grpc.pb.h"

namespace mxcensus::coordinator {

class CoordinatorCore;
class SessionReactor;

// Outlives its reactor: database callbacks hold it and find the reactor gone after OnDone.
struct SessionHandle {
  std::mutex mu;
  SessionReactor* reactor = nullptr;  // guarded by mu; null once the stream is over
};

// One worker's stream (gRPC callback API). Reads hello, credits, result batches and
// heartbeats; writes assignments and acks from a reactor-owned queue, one write in flight.
// Reactions may run concurrently on gRPC threads; state is guarded by mu_. Database work is
// posted to the core's executor and answered through the SessionHandle.
class SessionReactor final
    : public grpc::ServerBidiReactor<v1::WorkerMessage, v1::CoordinatorMessage> {
 public:
  SessionReactor(CoordinatorCore* core, grpc::CallbackServerContext* context);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  // Thread-safe; dropped once the stream is finishing.
  void Send(v1::CoordinatorMessage message);
  // Uses outstanding credit if there is work (called by the core's ticker). Thread-safe.
  void RequestWork();
  // Asks the worker to drain (coordinator shutting down). Thread-safe.
  void Drain(const std::string& reason);

  const std::shared_ptr<SessionHandle>& handle() const { return handle_; }

 private:
  void Handle(v1::WorkerMessage& message);
  void OnBatch(v1::ResultBatch& batch);  // moves the results out
  // REQUIRES: mu_ held.
  void PumpLocked();
  void FinishLocked(const grpc::Status& status);

  CoordinatorCore* core_;
  std::shared_ptr<SessionHandle> handle_;
  v1::WorkerMessage in_;

  std::mutex mu_;
  std::deque<v1::CoordinatorMessage> out_;  // front() is in flight while writing_
  bool writing_ = false;
  bool finished_ = false;
  std::string worker_id_;
  int credits_ = 0;
  bool lease_pending_ = false;
  bool draining_ = false;
  bool worker_leaving_ = false;  // the worker said it drains: hand back its leases at the end
};

}  // namespace mxcensus::coordinator
