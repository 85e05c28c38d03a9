#include "coordinator/server.h"

#include <prometheus/exposer.h>

#include <fstream>
#include <sstream>

#include "common/file_util.h"
#include "coordinator/session/session_reactor.h"
#include "storage/crawl_store.h"

namespace mxcensus::coordinator {
namespace {

v1::CrawlState StateOf(const std::string& s) {
  if (s == "pending") return v1::CRAWL_PENDING;
  if (s == "resolving") return v1::CRAWL_RESOLVING;
  if (s == "probing") return v1::CRAWL_PROBING;
  if (s == "finished") return v1::CRAWL_FINISHED;
  if (s == "cancelled") return v1::CRAWL_CANCELLED;
  if (s == "failed") return v1::CRAWL_FAILED;
  return v1::CRAWL_STATE_UNSPECIFIED;
}

void FillStatus(const storage::CrawlInfo& info, int workers, v1::CrawlStatus* out) {
  out->set_crawl_id(static_cast<uint64_t>(info.crawl_id));
  out->set_name(info.name);
  out->set_state(StateOf(info.state));
  out->set_domains_total(static_cast<uint64_t>(info.domains_total));
  out->set_domains_resolved(static_cast<uint64_t>(info.domains_resolved));
  out->set_targets_total(static_cast<uint64_t>(info.targets_total));
  out->set_targets_probed(static_cast<uint64_t>(info.targets_probed));
  for (const auto& [k, v] : info.outcomes) (*out->mutable_outcomes())[k] = static_cast<uint64_t>(v);
  out->set_workers_connected(static_cast<uint32_t>(workers));
  out->mutable_created_at()->set_seconds(info.created_at_ms / 1000);
  if (info.finished_at_ms) out->mutable_finished_at()->set_seconds(info.finished_at_ms / 1000);
  out->set_shards_failed(static_cast<uint32_t>(info.shards_failed));
}

grpc::Status ToGrpc(const absl::Status& s) {
  auto code = s.code() == absl::StatusCode::kNotFound          ? grpc::StatusCode::NOT_FOUND
              : s.code() == absl::StatusCode::kUnavailable     ? grpc::StatusCode::UNAVAILABLE
              : s.code() == absl::StatusCode::kAborted         ? grpc::StatusCode::ABORTED
              : s.code() == absl::StatusCode::kInvalidArgument ? grpc::StatusCode::INVALID_ARGUMENT
                                                               : grpc::StatusCode::INTERNAL;
  return grpc::Status(code, std::string(s.message()));
}

}  // namespace

bool IsLoopbackAddress(const std::string& address) {
  std::string host = address.substr(0, address.rfind(':'));
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// Session is a callback (reactor) method; the admin calls are synchronous: they are rare, short,
// and may wait on the database, which reactions must never do.
class CoordinatorServer::AdminService final
    : public v1::Coordinator::WithCallbackMethod_Session<v1::Coordinator::Service> {
 public:
  explicit AdminService(CoordinatorCore* core) : core_(core), store_(core->options().dsn) {}

  grpc::ServerBidiReactor<v1::WorkerMessage, v1::CoordinatorMessage>* Session(
      grpc::CallbackServerContext* context) override {
    return new SessionReactor(core_, context);
  }

  grpc::Status StartCrawl(grpc::ServerContext* ctx,
                          grpc::ServerReader<v1::StartCrawlRequest>* reader,
                          v1::StartCrawlResponse* resp) override {
    if (!core_->Authorized(ctx)) return Unauthenticated();
    v1::StartCrawlRequest req;
    if (!reader->Read(&req)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "StartCrawl stream is empty");
    }
    if (req.name().empty())
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "name is empty");
    storage::CrawlSpec spec;
    spec.name = req.name();
    spec.port = static_cast<uint16_t>(req.port() ? req.port() : 25);
    if (req.port() > 65535) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "port " + std::to_string(req.port()) + " is out of range");
    }
    if (req.resolve_shard_size())
      spec.resolve_shard_size = static_cast<int>(req.resolve_shard_size());
    if (req.probe_shard_size()) spec.probe_shard_size = static_cast<int>(req.probe_shard_size());
    spec.probe_ipv6 = req.probe_ipv6();
    // Chunks go into the database as they arrive: only one message is held at a time. Each
    // call has its own connection, so a long upload blocks no other admin call.
    int64_t received = 0;
    int message = 0;
    bool first = true;
    storage::CrawlStore store(core_->options().dsn);
    store.set_retry_budget(std::chrono::milliseconds(0));
    auto id = store.CreateCrawlFrom(
        spec, [&](std::vector<storage::DomainInput>& chunk) -> absl::StatusOr<bool> {
          if (!first && !reader->Read(&req)) {
            // A clean end of the stream, or a broken one: only the former creates the crawl.
            if (ctx->IsCancelled()) return absl::CancelledError("client went away mid-stream");
            if (received == 0) return absl::InvalidArgumentError("no domains in the stream");
            return false;
          }
          first = false;
          ++message;
          if (req.ranks_size() != 0 && req.ranks_size() != req.domains_size()) {
            return absl::InvalidArgumentError("message " + std::to_string(message) + ": " +
                                              std::to_string(req.ranks_size()) + " ranks for " +
                                              std::to_string(req.domains_size()) + " domains");
          }
          for (int i = 0; i < req.domains_size(); ++i) {
            if (req.domains(i).empty() || req.domains(i).size() > 253) {
              return absl::InvalidArgumentError("domain " + std::to_string(received + i + 1) +
                                                " (message " + std::to_string(message) +
                                                ") is empty or longer than 253 octets");
            }
            chunk.push_back({req.domains(i), req.ranks_size() ? req.ranks(i) : 0});
          }
          received += req.domains_size();
          return true;
        });
    if (!id.ok()) {
      if (id.status().code() == absl::StatusCode::kCancelled)
        return grpc::Status(grpc::StatusCode::CANCELLED, std::string(id.status().message()));
      return ToGrpc(id.status());
    }
    resp->set_crawl_id(static_cast<uint64_t>(*id));
    resp->set_domains(static_cast<uint64_t>(received));
    return grpc::Status::OK;
  }

  grpc::Status GetCrawlStatus(grpc::ServerContext* ctx, const v1::CrawlStatusRequest* req,
                              v1::CrawlStatus* resp) override {
    if (!core_->Authorized(ctx)) return Unauthenticated();
    std::lock_guard lock(mu_);
    int64_t id = static_cast<int64_t>(req->crawl_id());
    if (id == 0) {
      auto list = store_.ListCrawls(1);
      if (!list.ok()) return ToGrpc(list.status());
      if (list->empty()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no crawls yet");
      id = list->front().crawl_id;
    }
    auto info = store_.GetCrawl(id);
    if (!info.ok()) return ToGrpc(info.status());
    FillStatus(*info, core_->sessions(), resp);
    return grpc::Status::OK;
  }

  grpc::Status ListCrawls(grpc::ServerContext* ctx, const v1::ListCrawlsRequest* req,
                          v1::ListCrawlsResponse* resp) override {
    if (!core_->Authorized(ctx)) return Unauthenticated();
    std::lock_guard lock(mu_);
    auto list = store_.ListCrawls(req->limit() ? static_cast<int>(req->limit()) : 50);
    if (!list.ok()) return ToGrpc(list.status());
    for (const auto& info : *list) FillStatus(info, core_->sessions(), resp->add_crawls());
    return grpc::Status::OK;
  }

  grpc::Status CancelCrawl(grpc::ServerContext* ctx, const v1::CancelCrawlRequest* req,
                           v1::CancelCrawlResponse* resp) override {
    if (!core_->Authorized(ctx)) return Unauthenticated();
    std::lock_guard lock(mu_);
    auto state = store_.CancelCrawl(static_cast<int64_t>(req->crawl_id()));
    if (!state.ok()) return ToGrpc(state.status());
    resp->set_state(StateOf(*state));
    return grpc::Status::OK;
  }

 private:
  grpc::Status Unauthenticated() {
    core_->metrics().unauthenticated->Increment();
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing or wrong token");
  }

  CoordinatorCore* core_;
  std::mutex mu_;
  storage::CrawlStore store_;  // guarded by mu_
};

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(CoordinatorOptions core,
                                                                            ServerOptions opts) {
  const bool tls = !opts.tls_cert.empty() || !opts.tls_key.empty();
  if (tls && (opts.tls_cert.empty() || opts.tls_key.empty())) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!opts.tls_client_ca.empty() && !tls) {
    return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
  }
  if (!tls && core.token.empty() && !opts.insecure && !IsLoopbackAddress(opts.listen)) {
    return absl::InvalidArgumentError(
        "--listen " + opts.listen +
        " is not a loopback address: give --tls-cert/--tls-key and --token-file, or --insecure");
  }
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (tls) {
    auto cert = ReadWholeFile("--tls-cert", opts.tls_cert);
    if (!cert.ok()) return cert.status();
    auto key = ReadWholeFile("--tls-key", opts.tls_key);
    if (!key.ok()) return key.status();
    grpc::SslServerCredentialsOptions ssl(
        opts.tls_client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                   : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    if (!opts.tls_client_ca.empty()) {
      auto ca = ReadWholeFile("--tls-client-ca", opts.tls_client_ca);
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *ca;
    }
    creds = grpc::SslServerCredentials(ssl);
  }
  std::unique_ptr<CoordinatorServer> s(new CoordinatorServer());
  s->metrics_ = std::make_shared<CoordinatorMetrics>(
      opts.registry ? opts.registry : std::make_shared<prometheus::Registry>());
  if (!opts.metrics.empty()) {
    try {
      s->exposer_ = std::make_unique<prometheus::Exposer>(opts.metrics, 2);
    } catch (const std::exception& e) {
      return absl::UnavailableError("--metrics " + opts.metrics + ": " + e.what());
    }
    s->exposer_->RegisterCollectable(s->metrics_->registry);
  }
  s->core_ = std::make_unique<CoordinatorCore>(std::move(core), s->metrics_);
  s->service_ = std::make_unique<AdminService>(s->core_.get());
  grpc::ServerBuilder builder;
  builder.AddListeningPort(opts.listen, creds, &s->port_);
  builder.RegisterService(s->service_.get());
  // Workers keep one long stream open and ping it (INTEGRATION.md §2: permit their pings).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // StartCrawl streams the domain list in chunks (~10,000 domains, < 3 MiB); Session batches of
  // results with certificate chains are the largest messages.
  builder.SetMaxReceiveMessageSize(64 << 20);
  s->server_ = builder.BuildAndStart();
  if (!s->server_ || s->port_ == 0) {
    return absl::UnavailableError("--listen " + opts.listen + ": cannot listen there");
  }
  return s;
}

CoordinatorServer::~CoordinatorServer() {
  if (server_) Shutdown(std::chrono::milliseconds(2000));
}

void CoordinatorServer::Shutdown(std::chrono::milliseconds grace) {
  if (!server_) return;
  core_->DrainAll("coordinator shutting down");
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  server_.reset();
}

void CoordinatorServer::Wait() {
  if (server_) server_->Wait();
}

}  // namespace mxcensus::coordinator
