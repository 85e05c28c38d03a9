#pragma once

// The DNS stage of a worker: resolves mail domains completely (MX set, the addresses and TLSA
// records of every MX name, the MTA-STS / TLS-RPT / SPF / DMARC TXT records) with c-ares on the
// worker's libuv loop. Semantics: docs/dns.md; JSON: docs/result-schema.md.

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/domain_result.h"
#include "worker/dns/host_cache.h"
#include "worker/dns/query_pool.h"

namespace mxcensus::dns {

struct ResolverOptions {
  // "IP:PORT" or "[IPv6]:PORT" (see ParseResolverAddress); empty: the system's resolvers
  // (/etc/resolv.conf, through c-ares's defaults).
  std::vector<std::string> servers;
  int timeout_ms = 2000;        // first attempt; doubled on each retry (c-ares backoff)
  int tries = 3;                // attempts per resolver
  int window_per_server = 150;  // queries in flight per resolver socket (INTEGRATION.md §4)
  bool want_ipv6 = true;        // ask AAAA for every MX name
  bool want_tlsa = true;        // ask TLSA at _25._tcp.<mx name> (DANE, RFC 7672)
  size_t host_cache_entries = 200000;
  int64_t host_cache_ttl_ms = 15 * 60 * 1000;
  int rcvbuf_bytes = 4 << 20;
};

struct ResolverStats {
  uint64_t domains_started = 0;
  uint64_t domains_done = 0;
  uint64_t host_lookups = 0;       // MX names looked up (cache misses)
  uint64_t host_cache_hits = 0;    // answered from a finished lookup
  uint64_t host_cache_joined = 0;  // joined a lookup already running
  QueryStats queries;
};

// Canonicalises a resolver address: "IPv4[:PORT]" or "[IPv6][:PORT]" (port 53 when omitted)
// into the form c-ares takes. InvalidArgument names the bad value.
absl::StatusOr<std::string> ParseResolverAddress(std::string_view text);

// Loop thread only: every method, and every callback, runs on the thread of `loop`.
class DomainResolver {
 public:
  // `*loop` must outlive the resolver. Fails on a bad server address or c-ares init failure.
  static absl::StatusOr<std::unique_ptr<DomainResolver>> Create(uv_loop_t* loop,
                                                                ResolverOptions opts);
  // REQUIRES: Shutdown() was called and its on_idle has run.
  ~DomainResolver();
  DomainResolver(const DomainResolver&) = delete;
  DomainResolver& operator=(const DomainResolver&) = delete;

  // Resolves one domain fully (MX, addresses of every MX name, policy TXT records, TLSA of every
  // MX name). The name is normalised first (NormaliseDomain); an invalid one completes with
  // status "invalid". `done` runs exactly once on the loop thread, never inside Resolve().
  void Resolve(std::string domain, std::function<void(DomainResult&&)> done);
  // Domains accepted and not yet delivered.
  size_t in_flight() const { return in_flight_; }
  const ResolverStats& stats() const;

  // Stops taking domains (later Resolve() calls complete with status "servfail" and an error),
  // lets the in-flight ones finish, closes every handle, then runs `on_idle` (from the loop).
  void Shutdown(std::function<void()> on_idle);

 private:
  struct Job;
  struct HostLookup;
  explicit DomainResolver(uv_loop_t* loop, ResolverOptions opts);

  void StartJob(Job* job);
  void OnMx(Job* job, const QueryReply& reply);
  void RequestHost(Job* job, size_t index);
  void StartHostLookup(const std::string& name);
  static void OnJobReply(void* ctx, int tag, const QueryReply& reply);
  static void OnHostReply(void* ctx, int tag, const QueryReply& reply);
  void Release(Job* job);  // one pending part of `job` ended
  void Deliver(Job* job);  // queue the finished job for the next loop turn
  static void OnIdle(uv_idle_t* handle);
  void MaybeClose();

  uv_loop_t* loop_;
  ResolverOptions opts_;
  std::unique_ptr<QueryPool> pool_;
  HostCache cache_;
  uv_idle_t idle_;
  bool idle_open_ = false;
  std::vector<Job*> finished_;
  size_t in_flight_ = 0;
  mutable ResolverStats stats_;
  bool shutting_down_ = false;
  bool closing_ = false;
  std::function<void()> on_idle_;
};

}  // namespace mxcensus::dns
