#include "coordinator/session/session_reactor.h"

#include <chrono>
#include <cstdio>

#include "coordinator/core.h"
#include "proto/convert.h"

namespace mxcensus::coordinator {
namespace {

using Clock = std::chrono::steady_clock;

storage::LeaseRef RefOf(const v1::ResultBatch& b) {
  storage::LeaseRef ref;
  ref.crawl_id = static_cast<int64_t>(b.crawl_id());
  ref.kind = b.kind() == v1::SHARD_KIND_RESOLVE ? storage::ShardKind::kResolve
                                                : storage::ShardKind::kProbe;
  ref.shard_id = static_cast<int>(b.shard_id());
  ref.token = static_cast<int64_t>(b.lease_token());
  return ref;
}

v1::CoordinatorMessage AssignmentOf(const storage::Lease& lease, std::chrono::seconds duration) {
  v1::CoordinatorMessage m;
  auto* a = m.mutable_assign();
  a->set_lease_seconds(static_cast<uint32_t>(duration.count()));
  a->set_crawl_id(static_cast<uint64_t>(lease.ref.crawl_id));
  a->set_shard_id(static_cast<uint32_t>(lease.ref.shard_id));
  a->set_lease_token(static_cast<uint64_t>(lease.ref.token));
  if (lease.ref.kind == storage::ShardKind::kResolve) {
    auto* r = a->mutable_resolve();
    for (const auto& d : lease.domains) r->add_domains(d);
  } else {
    auto* p = a->mutable_probe();
    for (const auto& t : lease.targets) {
      auto* pt = p->add_targets();
      pt->set_target_id(static_cast<uint64_t>(t.target_id));
      pt->set_ip(t.ip);
      pt->set_port(t.port);
      pt->set_name(t.mx_name);
    }
  }
  return m;
}

}  // namespace

SessionReactor::SessionReactor(CoordinatorCore* core, grpc::CallbackServerContext* context)
    : core_(core), handle_(std::make_shared<SessionHandle>()) {
  handle_->reactor = this;
  if (!core_->Authorized(context)) {
    // Nothing from this caller is read, let alone stored.
    core_->metrics().unauthenticated->Increment();
    std::lock_guard lock(mu_);
    FinishLocked(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing or wrong token"));
    return;
  }
  core_->Register(handle_);
  StartRead(&in_);
}

void SessionReactor::OnReadDone(bool ok) {
  if (!ok) {
    // The worker closed its side, or the call broke.
    std::lock_guard lock(mu_);
    FinishLocked(grpc::Status::OK);
    return;
  }
  Handle(in_);
  std::lock_guard lock(mu_);
  if (!finished_) StartRead(&in_);
}

void SessionReactor::Handle(v1::WorkerMessage& m) {
  switch (m.msg_case()) {
    case v1::WorkerMessage::kHello: {
      std::lock_guard lock(mu_);
      worker_id_ = m.hello().worker_id();
      break;
    }
    case v1::WorkerMessage::kCredit: {
      {
        std::lock_guard lock(mu_);
        credits_ += static_cast<int>(m.credit().shards());
      }
      RequestWork();
      break;
    }
    case v1::WorkerMessage::kResults:
      OnBatch(*m.mutable_results());
      break;
    case v1::WorkerMessage::kHeartbeat: {
      std::string owner;
      {
        std::lock_guard lock(mu_);
        owner = worker_id_;
      }
      if (owner.empty()) break;
      auto duration = core_->options().lease_duration;
      core_->db().Post([owner, duration](storage::CrawlStore& s) {
        auto st = s.RenewLeases(owner, duration);
        if (!st.ok())
          fprintf(stderr, "coordinator: renew leases: %s\n", std::string(st.message()).c_str());
      });
      break;
    }
    case v1::WorkerMessage::kDrain: {
      std::lock_guard lock(mu_);
      draining_ = true;
      worker_leaving_ = true;
      break;
    }
    case v1::WorkerMessage::MSG_NOT_SET:
      break;
  }
}

void SessionReactor::OnBatch(v1::ResultBatch& batch) {
  std::string owner;
  {
    std::lock_guard lock(mu_);
    owner = worker_id_;
  }
  auto ref = RefOf(batch);
  const uint64_t batch_id = batch.batch_id();
  const bool complete = batch.shard_complete();
  CoordinatorCore* core = core_;
  // Runs on a database writer once the batch's transaction committed (or failed).
  auto done = [core, h = handle_, ref, batch_id, owner,
               start = Clock::now()](const absl::StatusOr<storage::IngestResult>& r) {
    std::lock_guard lock(h->mu);
    if (absl::IsFailedPrecondition(r.status())) {
      // It named a certificate by SHA-256 alone that is not stored (the database is not the
      // one the worker's earlier batches went to). Nothing of it was stored: ending the stream
      // makes the worker send it again, with every DER, on its next stream.
      fprintf(stderr, "coordinator: refusing a batch: %s\n",
              std::string(r.status().message()).c_str());
      if (h->reactor == nullptr) return;
      std::lock_guard rl(h->reactor->mu_);
      h->reactor->FinishLocked(
          grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, std::string(r.status().message())));
      return;
    }
    if (r.ok() && r->refused) {
      // It cannot be stored as it is (an address that is not one, a result that is not the
      // item it names, text the database refuses): nothing of it was stored, it is kept in
      // refused_batch instead, and acked below so that the worker drops it instead of
      // re-sending it forever. Its items are probed or resolved again under a later lease.
      core->metrics().batches_refused->Increment();
      fprintf(stderr,
              "coordinator: refused batch %llu of worker '%s' (crawl %lld %s shard %d), kept in "
              "refused_batch and acked: %s\n",
              static_cast<unsigned long long>(batch_id), owner.c_str(),
              static_cast<long long>(ref.crawl_id), storage::ShardKindName(ref.kind), ref.shard_id,
              r->refusal.c_str());
    }
    if (h->reactor == nullptr) return;  // committed or not, the worker re-sends after reconnecting
    if (!r.ok()) {
      // Not acked: the worker keeps the batch. Closing the stream makes it reconnect and re-send.
      fprintf(stderr, "coordinator: ingest failed, closing the stream: %s\n",
              std::string(r.status().message()).c_str());
      if (absl::IsInternal(r.status())) core->metrics().bug_ingest_sql->Increment();
      std::lock_guard rl(h->reactor->mu_);
      h->reactor->FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "database unavailable"));
      return;
    }
    v1::CoordinatorMessage ack;
    ack.mutable_ack()->add_batch_ids(batch_id);
    if (r->refused) {
      // Named as refused too: the worker must not take its certificates for stored.
      auto* refusal = ack.mutable_ack()->add_refused();
      refusal->set_batch_id(batch_id);
      refusal->set_reason(r->refusal);
      h->reactor->Send(std::move(ack));
      return;
    }
    auto& m = core->metrics();
    // From arrival to commit: with batches grouped into one transaction, the queueing counts.
    m.copy_duration->Observe(std::chrono::duration<double>(Clock::now() - start).count());
    (ref.kind == storage::ShardKind::kResolve ? m.copy_rows_domain : m.copy_rows_probe)
        ->Increment(static_cast<double>(r->rows_inserted));
    (r->lease_current ? m.batches_acked : m.batches_stale)->Increment();
    h->reactor->Send(std::move(ack));
  };
  if (ref.kind == storage::ShardKind::kResolve) {
    DbExecutor::DomainIngest ingest;
    ingest.lease = ref;
    ingest.results.reserve(static_cast<size_t>(batch.domains_size()));
    for (const auto& d : batch.domains()) ingest.results.push_back(FromProto(d));
    ingest.shard_complete = complete;
    ingest.worker = std::move(owner);
    ingest.batch_id = batch_id;
    ingest.done = std::move(done);
    core_->db().PostDomains(std::move(ingest));
    return;
  }
  DbExecutor::ProbeIngest ingest;
  ingest.lease = ref;
  ingest.results.reserve(static_cast<size_t>(batch.probes_size()));
  for (auto& p : *batch.mutable_probes()) ingest.results.push_back(FromProto(std::move(p)));
  ingest.shard_complete = complete;
  ingest.worker = std::move(owner);
  ingest.batch_id = batch_id;
  ingest.done = std::move(done);
  core_->db().PostIngest(std::move(ingest));
}

void SessionReactor::RequestWork() {
  std::string owner;
  {
    std::lock_guard lock(mu_);
    if (finished_ || draining_ || lease_pending_ || credits_ <= 0 || worker_id_.empty()) return;
    lease_pending_ = true;
    owner = worker_id_;
  }
  CoordinatorCore* core = core_;
  auto duration = core_->options().lease_duration;
  core_->db().Post([core, h = handle_, owner, duration](storage::CrawlStore& s) {
    auto lease = s.LeaseShard(owner, duration);
    if (lease.ok() && lease->has_value()) core->metrics().shards_leased->Increment();
    std::lock_guard lock(h->mu);
    SessionReactor* r = h->reactor;
    if (r == nullptr) return;  // the lease expires and goes to another worker
    bool more = false;
    {
      std::lock_guard rl(r->mu_);
      r->lease_pending_ = false;
      if (!lease.ok()) {
        fprintf(stderr, "coordinator: lease: %s\n", std::string(lease.status().message()).c_str());
        if (absl::IsInternal(lease.status())) core->metrics().bug_lease_sql->Increment();
      } else if (lease->has_value()) {
        --r->credits_;
        if (!r->finished_) {
          r->out_.push_back(AssignmentOf(**lease, duration));
          r->PumpLocked();
        }
        more = r->credits_ > 0;
      }
    }
    // More credit: ask again at once (still on the db thread: no recursion into the store).
    if (more) r->RequestWork();
  });
}

void SessionReactor::Send(v1::CoordinatorMessage message) {
  std::lock_guard lock(mu_);
  if (finished_) return;
  out_.push_back(std::move(message));
  PumpLocked();
}

void SessionReactor::Drain(const std::string& reason) {
  v1::CoordinatorMessage m;
  m.mutable_drain()->set_reason(reason);
  std::lock_guard lock(mu_);
  draining_ = true;
  if (finished_) return;
  out_.push_back(std::move(m));
  PumpLocked();
}

void SessionReactor::PumpLocked() {
  if (writing_ || finished_ || out_.empty()) return;
  writing_ = true;
  StartWrite(&out_.front());
}

void SessionReactor::OnWriteDone(bool ok) {
  std::lock_guard lock(mu_);
  writing_ = false;
  if (!out_.empty()) out_.pop_front();
  if (!ok) {
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
    return;
  }
  PumpLocked();
}

void SessionReactor::OnCancel() {
  std::lock_guard lock(mu_);
  FinishLocked(grpc::Status::CANCELLED);
}

void SessionReactor::FinishLocked(const grpc::Status& status) {
  if (finished_) return;
  finished_ = true;
  Finish(status);
}

void SessionReactor::OnDone() {
  {
    std::lock_guard lock(handle_->mu);
    handle_->reactor = nullptr;
  }
  if (worker_leaving_ && !worker_id_.empty()) {
    // After this session's batches (on every writer), so its completed shards are closed
    // first; what is left was never started and needs no lease expiry to go to another worker.
    core_->db().PostAfterAll([owner = worker_id_](storage::CrawlStore& s) {
      auto st = s.ReleaseLeases(owner);
      if (!st.ok())
        fprintf(stderr, "coordinator: release leases of a drained worker: %s\n",
                std::string(st.message()).c_str());
    });
  }
  core_->Unregister(handle_);
  delete this;
}

}  // namespace mxcensus::coordinator
