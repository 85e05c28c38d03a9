#pragma once

// A pool of c-ares channels, one per resolver, each with a sliding window of queries in flight.
// A resolver's UDP socket buffer, not c-ares, limits how many queries may be outstanding before
// answers are dropped (INTEGRATION.md §4: ~150-200 per socket against a default-tuned server),
// so queries beyond the window wait in this pool's queues. A query still unanswered after its
// first attempt's timeout leaves the window (it stays in flight at c-ares, which retries it): a
// name that is never answered sends no answers to overrun the buffer, and must not hold a window
// slot through all its retries (2 + 4 + 8 s by default), or a few such names throttle the whole
// stream of domains behind them. Follow-up lookups (an MX name's
// addresses) have priority over a new domain's first queries, which keeps the number of
// half-resolved domains, and so memory, bounded. Loop thread only.

#include <uv.h>

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/dns/ares_uv.h"

namespace mxcensus::dns {

// Closed label sets of the per-query counters (metrics: mxcensus_dns_queries_total{type,result}).
inline constexpr int kDnsQueryTypeCount = 6;
inline constexpr int kDnsQueryResultCount = 10;
// "A", "AAAA", "MX", "TXT", "TLSA", "other".
std::string_view DnsQueryTypeName(int index);
int DnsQueryTypeIndex(uint16_t type);
// "noerror", "nodata", "nxdomain", "servfail", "refused", "other_rcode" (from the response's
// rcode and answer count), "timeout", "unreachable", "cancelled", "error" (no response).
std::string_view DnsQueryResultName(int index);
int DnsQueryResultIndex(const QueryReply& reply);

// Counters over the pool's life (never reset).
struct QueryStats {
  uint64_t submitted = 0;   // queries asked of the pool
  uint64_t sent = 0;        // queries handed to c-ares (a failover counts again)
  uint64_t answered = 0;    // got a response, whatever its rcode
  uint64_t timeouts = 0;    // attempts that timed out (c-ares retried them, or gave up)
  uint64_t retries = 0;     // attempts re-sent after a timeout
  uint64_t unanswered = 0;  // gave up with no response: timeout or resolver unreachable
  uint64_t failovers = 0;   // re-sent to another resolver after giving up on one
  uint64_t errors = 0;      // local failures (bad name, out of memory)
  uint64_t aged = 0;        // left the window unanswered after the first attempt's timeout
  // Final result of each query by type: [DnsQueryTypeIndex][DnsQueryResultIndex].
  std::array<std::array<uint64_t, kDnsQueryResultCount>, kDnsQueryTypeCount> by_type_result{};
};

class QueryPool {
 public:
  struct Options {
    std::vector<std::string> servers;  // "IP:PORT" / "[IPv6]:PORT"; empty: the system's
    int timeout_ms = 2000;
    int tries = 3;
    int window_per_server = 150;
    int rcvbuf_bytes = 4 << 20;
  };
  enum class Priority { kFollowUp, kNew };
  // Completion of one query: `ctx` and `tag` are the caller's, as given to Submit(). A plain
  // function pointer, so that a query costs one allocation here (its Queued object).
  using Handler = void (*)(void* ctx, int tag, const QueryReply& reply);

  // `after_io` runs after each batch of answers has been processed and queued queries started.
  static absl::StatusOr<std::unique_ptr<QueryPool>> Create(uv_loop_t* loop, const Options& options,
                                                           std::function<void()> after_io);
  QueryPool(const QueryPool&) = delete;
  QueryPool& operator=(const QueryPool&) = delete;

  // Queues a class-IN query; `handler(ctx, tag, reply)` runs exactly once, never inside Submit().
  // A query that timed out at one resolver is retried once at another when there are several.
  void Submit(std::string name, uint16_t type, Priority priority, Handler handler, void* ctx,
              int tag);
  // Starts queued queries while windows have room. Call after Submit() from outside after_io.
  void Pump();

  size_t queued() const { return follow_up_.size() + fresh_.size(); }
  int in_flight() const;
  // Queries counted against the windows (in flight, not yet past their first timeout).
  int in_window() const;
  const QueryStats& stats() const { return stats_; }

  // Closes every channel (pending queries see ARES_EDESTRUCTION); `on_closed` runs once all
  // handles are closed. Must not be called from a query callback.
  void Close(std::function<void()> on_closed);

 private:
  // One query, from Submit() until its handler ran.
  struct Queued final : AresRequest {
    QueryPool* pool = nullptr;
    std::string name;
    uint16_t type = 0;
    Handler handler = nullptr;
    void* ctx = nullptr;
    int tag = 0;
    int channel = -1;        // where it was sent
    int tried_channel = -1;  // the channel that gave up on it (failover), or -1
    uint64_t sent_ms = 0;    // uv_now() when handed to c-ares
    // Intrusive list of the channel's window, oldest first (no allocation per query).
    Queued* prev = nullptr;
    Queued* next = nullptr;
    bool in_window = false;
    void OnReply(const QueryReply& reply) override;
  };
  // The queries of one channel that count against its window, in the order they were sent.
  struct Window {
    int limit = 150;
    int used = 0;
    Queued* head = nullptr;
    Queued* tail = nullptr;
  };
  QueryPool() = default;
  int PickChannel(int avoid) const;
  void Enter(Queued* q);  // into its channel's window
  void Leave(Queued* q);  // out of it, if still there
  void AgeWindows();      // drops queries past their first attempt's timeout from the windows
  void Start(Queued* q, int channel);
  void OnReply(Queued* q, const QueryReply& reply);
  void AfterIo();

  std::vector<std::unique_ptr<AresUvChannel>> channels_;
  uv_loop_t* loop_ = nullptr;
  int timeout_ms_ = 2000;
  std::vector<Window> windows_;
  std::deque<Queued*> follow_up_;  // owned
  std::deque<Queued*> fresh_;      // owned
  std::function<void()> after_io_;
  QueryStats stats_;
  bool pumping_ = false;
  bool closing_ = false;
  int closing_channels_ = 0;
};

}  // namespace mxcensus::dns
