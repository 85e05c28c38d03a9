#include "worker/dns/resolver.h"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <chrono>

#include "common/domain_input.h"
#include "worker/dns/domain_assembly.h"

namespace mxcensus::dns {

// One domain being resolved. Freed after its result is delivered.
struct DomainResolver::Job {
  DomainResolver* owner = nullptr;
  DomainResult result;
  std::function<void(DomainResult&&)> done;
  int pending = 0;  // outstanding parts: MX, the policy TXTs, each MX name
  MxPlan plan;
  std::vector<std::shared_ptr<const HostInfo>> hosts;
  std::array<TxtLookup, kPolicyLookups> policy;
  bool assembled = false;  // result is final (or was decided without lookups)
};

// The lookups of one MX name, shared by every domain that waits on it.
struct DomainResolver::HostLookup {
  DomainResolver* owner = nullptr;
  std::string name;
  AddressLookup a;
  std::optional<AddressLookup> aaaa;
  TlsaLookup tlsa;
  int pending = 0;
};

namespace {

constexpr int kMxTag = -1;  // the tag of a job's MX query; TXT queries use their policy index

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status BadAddress(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError("bad resolver address '" + std::string(text) +
                                    "': " + std::string(why));
}

}  // namespace

absl::StatusOr<std::string> ParseResolverAddress(std::string_view text) {
  std::string host;
  std::string_view port_text;
  bool v6 = false;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return BadAddress(text, "missing ']'");
    host = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return BadAddress(text, "expected ':' after ']'");
      port_text = rest.substr(1);
      if (port_text.empty()) return BadAddress(text, "empty port");
    }
    v6 = true;
  } else {
    size_t colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      return BadAddress(text, "write an IPv6 address as [ADDR]:PORT");
    }
    host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = text.substr(colon + 1);
      if (port_text.empty()) return BadAddress(text, "empty port");
    }
  }
  unsigned char buf[16];
  if (inet_pton(v6 ? AF_INET6 : AF_INET, host.c_str(), buf) != 1) {
    return BadAddress(text, v6 ? "not an IPv6 address" : "not an IPv4 address");
  }
  int port = 53;
  if (!port_text.empty()) {
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port < 1 ||
        port > 65535) {
      return BadAddress(text, "port must be 1-65535");
    }
  }
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

DomainResolver::DomainResolver(uv_loop_t* loop, ResolverOptions opts)
    : loop_(loop),
      opts_(std::move(opts)),
      cache_(opts_.host_cache_entries, opts_.host_cache_ttl_ms) {}

absl::StatusOr<std::unique_ptr<DomainResolver>> DomainResolver::Create(uv_loop_t* loop,
                                                                       ResolverOptions opts) {
  for (auto& s : opts.servers) {
    auto canon = ParseResolverAddress(s);
    if (!canon.ok()) return canon.status();
    s = *canon;
  }
  std::unique_ptr<DomainResolver> r(new DomainResolver(loop, std::move(opts)));
  QueryPool::Options po;
  po.servers = r->opts_.servers;
  po.timeout_ms = r->opts_.timeout_ms;
  po.tries = r->opts_.tries;
  po.window_per_server = r->opts_.window_per_server;
  po.rcvbuf_bytes = r->opts_.rcvbuf_bytes;
  auto pool = QueryPool::Create(loop, po, nullptr);
  if (!pool.ok()) return pool.status();
  r->pool_ = std::move(*pool);
  int rc = uv_idle_init(loop, &r->idle_);
  if (rc != 0) return absl::InternalError(std::string("uv_idle_init: ") + uv_err_name(rc));
  r->idle_.data = r.get();
  r->idle_open_ = true;
  return r;
}

DomainResolver::~DomainResolver() {
  // Shutdown() must have completed: the loop still holds our handles otherwise.
  if (idle_open_ || pool_ != nullptr) std::abort();
}

const ResolverStats& DomainResolver::stats() const {
  if (pool_) stats_.queries = pool_->stats();
  return stats_;
}

void DomainResolver::Resolve(std::string domain, std::function<void(DomainResult&&)> done) {
  auto* job = new Job;
  job->owner = this;
  job->done = std::move(done);
  ++in_flight_;
  ++stats_.domains_started;
  if (shutting_down_) {
    job->result.domain = std::move(domain);
    job->result.status = DnsStatus::kServFail;
    job->result.error = "resolver shut down";
    job->assembled = true;
    Deliver(job);
    return;
  }
  auto norm = NormaliseDomain(domain);
  if (!norm.ok()) {
    job->result.domain = std::move(domain);
    job->result.status = DnsStatus::kInvalid;
    job->result.error = std::string(norm.status().message());
    job->assembled = true;
    Deliver(job);
    return;
  }
  job->result.domain = std::move(*norm);
  StartJob(job);
  pool_->Pump();
}

void DomainResolver::StartJob(Job* job) {
  const std::string& d = job->result.domain;
  job->pending = 1 + kPolicyLookups;
  pool_->Submit(d, kTypeMx, QueryPool::Priority::kNew, &DomainResolver::OnJobReply, job, kMxTag);
  auto names = PolicyQueryNames(d);
  for (int i = 0; i < kPolicyLookups; ++i) {
    pool_->Submit(std::move(names[i]), kTypeTxt, QueryPool::Priority::kNew,
                  &DomainResolver::OnJobReply, job, i);
  }
}

void DomainResolver::OnJobReply(void* ctx, int tag, const QueryReply& reply) {
  auto* job = static_cast<Job*>(ctx);
  if (tag == kMxTag) {
    job->owner->OnMx(job, reply);
    return;
  }
  std::string qname = PolicyQueryNames(job->result.domain)[tag];
  job->policy[tag] = ParseTxtReply(reply.status, reply.message, qname);
  job->owner->Release(job);
}

void DomainResolver::OnMx(Job* job, const QueryReply& reply) {
  MxLookup mx = ParseMxReply(reply.status, reply.message, job->result.domain);
  job->plan = PlanFromMx(job->result.domain, mx);
  job->hosts.resize(job->plan.hosts.size());
  for (size_t i = 0; i < job->plan.hosts.size(); ++i) RequestHost(job, i);
  Release(job);
}

void DomainResolver::RequestHost(Job* job, size_t index) {
  const std::string& name = job->plan.hosts[index].exchange;
  std::shared_ptr<const HostInfo> info;
  ++job->pending;
  auto hit = cache_.Lookup(
      name, static_cast<int64_t>(uv_now(loop_)),
      [this, job, index](const std::shared_ptr<const HostInfo>& result) {
        job->hosts[index] = result;
        Release(job);
      },
      &info);
  switch (hit) {
    case HostCache::Hit::kDone:
      ++stats_.host_cache_hits;
      job->hosts[index] = std::move(info);
      --job->pending;  // never the last part: the MX lookup itself is still counted
      break;
    case HostCache::Hit::kJoined:
      ++stats_.host_cache_joined;
      break;
    case HostCache::Hit::kMiss:
      ++stats_.host_lookups;
      StartHostLookup(name);
      break;
  }
}

void DomainResolver::StartHostLookup(const std::string& name) {
  auto* lookup = new HostLookup;  // freed when its last query has answered
  lookup->owner = this;
  lookup->name = name;
  lookup->pending = 1 + (opts_.want_ipv6 ? 1 : 0) + (opts_.want_tlsa ? 1 : 0);
  if (!opts_.want_tlsa) lookup->tlsa.kind = LookupKind::kNoData;
  pool_->Submit(name, kTypeA, QueryPool::Priority::kFollowUp, &DomainResolver::OnHostReply, lookup,
                kTypeA);
  if (opts_.want_ipv6) {
    pool_->Submit(name, kTypeAaaa, QueryPool::Priority::kFollowUp, &DomainResolver::OnHostReply,
                  lookup, kTypeAaaa);
  }
  if (opts_.want_tlsa) {
    pool_->Submit("_25._tcp." + name, kTypeTlsa, QueryPool::Priority::kFollowUp,
                  &DomainResolver::OnHostReply, lookup, kTypeTlsa);
  }
}

void DomainResolver::OnHostReply(void* ctx, int tag, const QueryReply& r) {
  auto* lookup = static_cast<HostLookup*>(ctx);
  switch (tag) {
    case kTypeA:
      lookup->a = ParseAddressReply(r.status, r.message, lookup->name, kTypeA);
      break;
    case kTypeAaaa:
      lookup->aaaa = ParseAddressReply(r.status, r.message, lookup->name, kTypeAaaa);
      break;
    default:
      lookup->tlsa = ParseTlsaReply(r.status, r.message, "_25._tcp." + lookup->name);
      break;
  }
  if (--lookup->pending > 0) return;
  std::unique_ptr<HostLookup> done(lookup);
  auto info =
      std::make_shared<const HostInfo>(AssembleHost(done->name, done->a, done->aaaa, done->tlsa));
  done->owner->cache_.Complete(done->name, std::move(info),
                               static_cast<int64_t>(uv_now(done->owner->loop_)));
}

void DomainResolver::Release(Job* job) {
  if (--job->pending > 0) return;
  std::vector<const HostInfo*> hosts;
  hosts.reserve(job->hosts.size());
  for (const auto& h : job->hosts) hosts.push_back(h.get());
  AssembleDomain(job->plan, hosts, job->policy, &job->result);
  job->assembled = true;
  Deliver(job);
}

void DomainResolver::Deliver(Job* job) {
  job->result.resolved_at_ms = NowUnixMs();
  finished_.push_back(job);
  if (finished_.size() == 1) uv_idle_start(&idle_, &DomainResolver::OnIdle);
}

void DomainResolver::OnIdle(uv_idle_t* handle) {
  auto* self = static_cast<DomainResolver*>(handle->data);
  std::vector<Job*> batch;
  batch.swap(self->finished_);
  for (Job* job : batch) {
    --self->in_flight_;
    ++self->stats_.domains_done;
    auto done = std::move(job->done);
    DomainResult result = std::move(job->result);
    delete job;
    if (done) done(std::move(result));  // may call Resolve() or Shutdown()
  }
  if (self->finished_.empty()) uv_idle_stop(&self->idle_);
  // Callbacks may have queued new queries.
  if (self->pool_ && !self->closing_) self->pool_->Pump();
  self->MaybeClose();
}

void DomainResolver::Shutdown(std::function<void()> on_idle) {
  if (shutting_down_) return;
  shutting_down_ = true;
  on_idle_ = std::move(on_idle);
  // Close from the loop, never from inside the caller (which may be a c-ares callback chain).
  if (finished_.empty()) uv_idle_start(&idle_, &DomainResolver::OnIdle);
}

void DomainResolver::MaybeClose() {
  if (!shutting_down_ || closing_ || in_flight_ != 0) return;
  closing_ = true;
  uv_idle_stop(&idle_);
  pool_->Close([this] {
    pool_.reset();
    idle_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&idle_), [](uv_handle_t* h) {
      auto* self = static_cast<DomainResolver*>(h->data);
      auto cb = std::move(self->on_idle_);
      if (cb) cb();
    });
  });
}

}  // namespace mxcensus::dns
