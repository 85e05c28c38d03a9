#include "worker/rpc/session_client.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "common/file_util.h"
#include "common/version.h"
#include "worker/metrics.h"
#include "worker/tls/session_facts.h"

namespace mxcensus::worker {
namespace {

// Rows a batch carries: the unit of mxcensus_results_{sent,acked}_total.
double ResultCount(const v1::ResultBatch& b) {
  return static_cast<double>(b.probes_size() + b.domains_size());
}

}  // namespace

// One stream of the session (gRPC callback API). Writes start from other threads, hence the
// hold (client_callback.h: "Holds are needed if ... operations from outside one of the
// reactions"). One write in flight; queued messages wait in out_.
class SessionClient::Stream final
    : public grpc::ClientBidiReactor<v1::WorkerMessage, v1::CoordinatorMessage> {
 public:
  explicit Stream(SessionClient* client) : client_(client) {
    if (!client->opts_.token.empty()) {
      context_.AddMetadata("authorization", "Bearer " + client->opts_.token);
    }
    context_.set_wait_for_ready(true);  // ride out a coordinator restart instead of failing
    client->stub_->async()->Session(&context_, this);
    StartRead(&in_);
    AddHold();
    StartCall();
  }

  void Send(v1::WorkerMessage m) { Send(std::make_shared<const v1::WorkerMessage>(std::move(m))); }
  // A message shared with the unacked store: a batch is never copied to be sent (or re-sent).
  void Send(std::shared_ptr<const v1::WorkerMessage> m) {
    std::lock_guard lock(mu_);
    if (closed_) return;
    out_.push_back(std::move(m));
    if (!writing_) {
      writing_ = true;
      StartWrite(out_.front().get());
    }
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    out_.pop_front();
    writing_ = false;
    if (!ok) closed_ = true;
    if (!closed_ && !out_.empty()) {
      writing_ = true;
      StartWrite(out_.front().get());
      return;
    }
    MaybeReleaseLocked();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard lock(mu_);
      closed_ = true;
      MaybeReleaseLocked();
      return;
    }
    client_->OnStreamMessage(in_);
    StartRead(&in_);
  }

  void OnDone(const grpc::Status& status) override {
    std::lock_guard lock(mu_);
    done_ = true;
    status_ = status;
    cv_.notify_all();
  }

  // Blocks until the stream is over; returns its status.
  grpc::Status Await() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return done_; });
    return status_;
  }

  void Cancel() { context_.TryCancel(); }

 private:
  void MaybeReleaseLocked() {
    if (closed_ && !writing_ && !released_) {
      released_ = true;
      RemoveHold();
    }
  }

  SessionClient* client_;
  grpc::ClientContext context_;
  v1::CoordinatorMessage in_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<const v1::WorkerMessage>> out_;
  bool writing_ = false;
  bool closed_ = false;
  bool released_ = false;
  bool done_ = false;
  grpc::Status status_;
};

SessionClient::SessionClient(SessionClientOptions opts)
    : opts_(std::move(opts)),
      heartbeat_(std::chrono::duration_cast<std::chrono::milliseconds>(opts_.heartbeat)) {}

absl::StatusOr<std::unique_ptr<SessionClient>> SessionClient::Create(SessionClientOptions opts) {
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!opts.tls_ca.empty() || !opts.tls_cert.empty()) {
    grpc::SslCredentialsOptions ssl;
    if (!opts.tls_ca.empty()) {
      auto ca = ReadWholeFile("--tls-ca", opts.tls_ca);
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *ca;
    }
    if (!opts.tls_cert.empty() || !opts.tls_key.empty()) {
      auto cert = ReadWholeFile("--tls-cert", opts.tls_cert);
      if (!cert.ok()) return cert.status();
      auto key = ReadWholeFile("--tls-key", opts.tls_key);
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    creds = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  // INTEGRATION.md §2: keepalive that the coordinator permits, bounded reconnect backoff.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(opts.max_backoff.count()));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetMaxReceiveMessageSize(256 << 20);
  if (!opts.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(opts.tls_server_name);
  }
  std::unique_ptr<SessionClient> c(new SessionClient(std::move(opts)));
  c->channel_ = grpc::CreateCustomChannel(c->opts_.coordinator, creds, args);
  c->stub_ = v1::Coordinator::NewStub(c->channel_);
  return c;
}

SessionClient::~SessionClient() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (stream_ != nullptr) stream_->Cancel();
  }
  cv_.notify_all();
  if (connect_thread_.joinable()) connect_thread_.join();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
}

void SessionClient::Start(WorkerNode* node) {
  node_ = node;
  connect_thread_ = std::thread([this] { ConnectLoop(); });
  heartbeat_thread_ = std::thread([this] { HeartbeatLoop(); });
}

void SessionClient::ConnectLoop() {
  std::chrono::milliseconds backoff{200};
  bool first = true;
  while (true) {
    auto stream = std::make_unique<Stream>(this);
    const auto opened = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(mu_);
      if (stopping_) {
        stream->Cancel();
      } else {
        stream_ = stream.get();
        v1::WorkerMessage hello;
        auto* h = hello.mutable_hello();
        h->set_worker_id(opts_.worker_id);
        h->set_version(kVersion);
        h->set_max_inflight(opts_.max_inflight);
        h->set_threads(opts_.threads);
        stream->Send(std::move(hello));
        // Whatever the last stream did not get acked goes again: the coordinator's merge makes
        // a second delivery a no-op. With every DER: this coordinator has not acked any yet.
        stored_certs_.clear();
        for (auto& [id, entry] : unacked_) {
          RestoreElidedLocked(entry);
          const auto& m = entry.message;
          if (opts_.metrics) opts_.metrics->results_sent->Increment(ResultCount(m->results()));
          stream->Send(m);
        }
        if (!draining_) {
          const int free = opts_.capacity_shards - node_->slots_held();
          if (free > 0) {
            v1::WorkerMessage credit;
            credit.mutable_credit()->set_shards(static_cast<uint32_t>(free));
            stream->Send(std::move(credit));
          }
        }
      }
    }
    grpc::Status status = stream->Await();
    {
      std::lock_guard lock(mu_);
      stream_ = nullptr;
      if (stopping_) return;
    }
    if (!first || !status.ok()) {
      fprintf(stderr, "worker: stream to %s ended (%s: %s); reconnecting\n",
              opts_.coordinator.c_str(), std::to_string(status.error_code()).c_str(),
              status.error_message().c_str());
    }
    first = false;
    reconnects_++;
    if (opts_.metrics) opts_.metrics->reconnects->Increment();
    if (std::chrono::steady_clock::now() - opened > std::chrono::seconds(10))
      backoff = std::chrono::milliseconds(200);
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, backoff, [this] { return stopping_; });
    if (stopping_) return;
    backoff = std::min(backoff * 2, opts_.max_backoff);
  }
}

void SessionClient::HeartbeatLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, heartbeat_, [this] { return stopping_; });
    if (stopping_ || stream_ == nullptr) continue;
    v1::WorkerMessage m;
    m.mutable_heartbeat()->set_unacked(static_cast<uint32_t>(unacked_.size()));
    m.mutable_heartbeat()->set_inflight(static_cast<uint32_t>(node_->shards_in_progress()));
    stream_->Send(std::move(m));
  }
}

void SessionClient::OnStreamMessage(const v1::CoordinatorMessage& m) {
  switch (m.msg_case()) {
    case v1::CoordinatorMessage::kAssign: {
      if (m.assign().lease_seconds() > 0) {
        // Heartbeats renew our leases: send them three times per lease.
        std::lock_guard lock(mu_);
        heartbeat_ =
            std::min(heartbeat_, std::chrono::milliseconds(m.assign().lease_seconds() * 1000 / 3));
      }
      if (!node_->Assign(m.assign())) OnSlotFree();  // a re-lease of a shard we run
      break;
    }
    case v1::CoordinatorMessage::kAck: {
      std::lock_guard lock(mu_);
      std::map<uint64_t, const std::string*> refused;
      for (const auto& r : m.ack().refused()) refused[r.batch_id()] = &r.reason();
      for (uint64_t id : m.ack().batch_ids()) {
        auto it = unacked_.find(id);
        if (it == unacked_.end()) continue;  // a re-sent batch acked twice
        const double n = ResultCount(it->second.message->results());
        if (auto r = refused.find(id); r != refused.end()) {
          // Kept aside by the coordinator, nothing of it stored: its certificates are not
          // stored either, so later batches must still carry their DERs.
          if (opts_.metrics) opts_.metrics->results_refused->Increment(n);
          fprintf(stderr, "worker: the coordinator refused batch %llu (%.0f results): %s\n",
                  static_cast<unsigned long long>(id), n, r->second->c_str());
          unacked_.erase(it);
          continue;
        }
        if (opts_.metrics) opts_.metrics->results_acked->Increment(n);
        // Committed with the batch: later batches name these by SHA-256 alone.
        if (stored_certs_.size() + it->second.carried.size() > kStoredCertsMax) {
          stored_certs_.clear();  // bounded; forgetting only costs a DER sent again
        }
        for (auto& [sha, with_summary] : it->second.carried) {
          bool& v = stored_certs_[std::move(sha)];
          v = v || with_summary;
        }
        unacked_.erase(it);
      }
      if (opts_.metrics) opts_.metrics->unacked->Set(static_cast<double>(unacked_.size()));
      cv_.notify_all();
      break;
    }
    case v1::CoordinatorMessage::kDrain:
      // The coordinator is going away; our results stay unacked until a new stream takes them.
      fprintf(stderr, "worker: coordinator asks to drain: %s\n", m.drain().reason().c_str());
      break;
    case v1::CoordinatorMessage::kCancel:
    case v1::CoordinatorMessage::kHeartbeat:
    case v1::CoordinatorMessage::MSG_NOT_SET:
      break;
  }
}

void SessionClient::OnBatch(v1::ResultBatch batch) {
  // Each chain element's SHA-256, outside the lock: the coordinator's name for a certificate.
  for (auto& p : *batch.mutable_probes()) {
    if (!p.has_tls() || p.tls().chain_size() == 0) continue;
    auto* t = p.mutable_tls();
    t->clear_chain_sha256();
    for (const auto& der : t->chain()) t->add_chain_sha256(tls::Sha256Digest(der));
  }
  std::lock_guard lock(mu_);
  const uint64_t id = next_batch_id_++;
  batch.set_batch_id(id);
  const double n = ResultCount(batch);
  Unacked entry;
  ElideStoredLocked(batch, entry);
  auto m = std::make_shared<v1::WorkerMessage>();
  m->mutable_results()->Swap(&batch);
  entry.message = std::move(m);
  if (stream_ != nullptr) {
    stream_->Send(entry.message);
    if (opts_.metrics) opts_.metrics->results_sent->Increment(n);
  }
  unacked_.emplace(id, std::move(entry));
  if (opts_.metrics) opts_.metrics->unacked->Set(static_cast<double>(unacked_.size()));
}

void SessionClient::ElideStoredLocked(v1::ResultBatch& batch, Unacked& entry) {
  for (int p = 0; p < batch.probes_size(); ++p) {
    if (!batch.probes(p).has_tls()) continue;  // mutable_tls() would make one
    auto* t = batch.mutable_probes(p)->mutable_tls();
    if (t->chain_size() == 0 || t->chain_sha256_size() != t->chain_size()) continue;
    for (int i = 0; i < t->chain_size(); ++i) {
      const std::string& sha = t->chain_sha256(i);
      // The leaf's summary travels with the result; the coordinator stores it with the
      // certificate when it first sees it as a leaf. A certificate stored without one (as an
      // intermediate) goes once more as a leaf.
      const bool with_summary = i == 0 && t->has_leaf();
      auto it = stored_certs_.find(sha);
      if (it != stored_certs_.end() && (it->second || !with_summary)) {
        entry.elided.push_back(ElidedDer{p, i, std::string()});
        entry.elided.back().der.swap(*t->mutable_chain(i));
        ders_elided_++;
      } else {
        entry.carried.emplace_back(sha, with_summary);
      }
    }
  }
}

void SessionClient::RestoreElidedLocked(Unacked& entry) {
  if (entry.elided.empty()) return;
  // Rare (a batch going again on a new stream): a copy, since the old stream may still hold
  // the message.
  auto full = std::make_shared<v1::WorkerMessage>(*entry.message);
  auto* batch = full->mutable_results();
  for (auto& e : entry.elided) {
    auto* t = batch->mutable_probes(e.probe)->mutable_tls();
    entry.carried.emplace_back(t->chain_sha256(e.element), e.element == 0 && t->has_leaf());
    t->mutable_chain(e.element)->swap(e.der);
  }
  entry.elided.clear();
  entry.message = std::move(full);
}

void SessionClient::OnShardFinished() {
  std::lock_guard lock(mu_);
  cv_.notify_all();  // Drain waits for the last shard
}

void SessionClient::OnSlotFree() {
  std::lock_guard lock(mu_);
  if (draining_ || stream_ == nullptr) return;
  v1::WorkerMessage m;
  m.mutable_credit()->set_shards(1);
  stream_->Send(std::move(m));
}

bool SessionClient::Drain(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  draining_ = true;
  if (stream_ != nullptr) {
    // No more assignments; what crosses this message is handed back when the stream ends.
    v1::WorkerMessage m;
    m.mutable_drain()->set_reason("worker draining");
    stream_->Send(std::move(m));
  }
  const bool done = cv_.wait_for(
      lock, timeout, [this] { return node_->shards_in_progress() == 0 && unacked_.empty(); });
  stopping_ = true;
  if (stream_ != nullptr) stream_->Cancel();
  cv_.notify_all();
  lock.unlock();
  if (connect_thread_.joinable()) connect_thread_.join();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  return done;
}

size_t SessionClient::unacked() const {
  std::lock_guard lock(mu_);
  return unacked_.size();
}

bool SessionClient::connected() const {
  std::lock_guard lock(mu_);
  return stream_ != nullptr;
}

}  // namespace mxcensus::worker
