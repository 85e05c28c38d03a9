#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/domain_result.h"
#include "common/probe_result.h"

namespace mxcensus::storage {

class LeaseTargets;

enum class ShardKind { kResolve, kProbe };
const char* ShardKindName(ShardKind k);

struct CrawlSpec {
  std::string name;
  uint16_t port = 25;
  int resolve_shard_size = 500;
  int probe_shard_size = 250;
  int max_attempts = 5;
  bool probe_ipv6 = false;
};

struct DomainInput {
  std::string domain;  // normalised
  int64_t rank = 0;    // 0 when the input had none
};

struct TargetRow {
  int64_t target_id = 0;
  std::string ip;
  uint16_t port = 25;
  std::string mx_name;
};

// Identifies one lease of one shard. The token fences results of a lease that was superseded
// (expired and handed to another worker): they are stored idempotently but move nothing.
struct LeaseRef {
  int64_t crawl_id = 0;
  ShardKind kind = ShardKind::kResolve;
  int shard_id = 0;
  int64_t token = 0;
};

struct Lease {
  LeaseRef ref;
  std::vector<std::string> domains;  // kResolve: the shard's domains still unresolved
  std::vector<TargetRow> targets;    // kProbe: the shard's targets still without a result
};

struct IngestResult {
  int64_t rows_inserted = 0;   // new rows (duplicates of earlier deliveries are not counted)
  bool lease_current = false;  // false: a stale lease; the rows were merged, the shard untouched
  bool shard_done = false;     // the shard is now complete
  // Probes: the batch took the merge path (staging table, INSERT ... ON CONFLICT DO NOTHING),
  // because a row met a stored one in the COPY. A re-delivery whose stored rows were found by
  // looking them up first did not: it sent only what was missing.
  bool merged = false;
  // The batch could not be stored as it was (an ingest's InvalidArgument): nothing of it was
  // stored, it was kept in refused_batch instead (RecordRefusedBatch), and may be acked.
  bool refused = false;
  std::string refusal;  // why (the InvalidArgument's message)
};

struct CrawlInfo {
  int64_t crawl_id = 0;
  std::string name;
  std::string state;
  uint16_t port = 25;
  int64_t domains_total = 0;
  int64_t domains_resolved = 0;
  int64_t targets_total = 0;
  int64_t targets_probed = 0;
  int shards_failed = 0;
  std::map<std::string, int64_t> outcomes;  // probe outcome name -> count
  int64_t created_at_ms = 0;
  int64_t finished_at_ms = 0;  // 0 while running
};

// The numbers `scan` prints at the end of a crawl.
struct CrawlHeadline {
  int64_t domains = 0;               // input domains
  int64_t domains_with_mx = 0;       // DNS ok: an MX set (or an implicit MX) that resolves
  int64_t domains_probed = 0;        // ... with at least one probe result
  int64_t domains_all_starttls = 0;  // every probed MX address completed STARTTLS
  int64_t domains_all_valid = 0;     // ... and presented a valid chain matching the MX name
  int64_t targets = 0;
  std::vector<std::pair<std::string, int64_t>> dns_statuses;  // status -> domains
  std::vector<std::pair<std::string, int64_t>> outcomes;      // outcome -> targets, largest first
};

// What the coordinator's metrics show of the crawls (docs/metrics.md).
struct OpsSnapshot {
  // Shards of crawls not over yet, by (kind "resolve"|"probe", state).
  std::map<std::pair<std::string, std::string>, int64_t> shards;
  // The newest crawl's items done / items, by shard kind (absent: no shard of that kind yet).
  std::map<std::string, double> progress;
};

// What CrawlStore does after an operation failed (crawl_store_internal.h): a lost or
// unreachable server (Unavailable) is retried on a new connection with backoff until the retry
// budget is spent; a transaction the server rolled back on its own (Aborted: a deadlock between
// writers, a serialization failure) is run again at once on the same connection, up to
// kMaxRollbackRetries times; anything else is the caller's. `rolled_back` is how many times
// this operation was rolled back so far.
enum class RetryAction { kGiveUp, kAgainNow, kReconnect };
inline constexpr int kMaxRollbackRetries = 5;
inline constexpr std::chrono::milliseconds kRollbackPause{5};  // times the attempt number
RetryAction RetryFor(const absl::Status& status, int rolled_back);

// The coordinator's whole state, in PostgreSQL: crawl lifecycle, shards and their leases, and
// result ingestion. One object per thread (it owns one connection). A lost connection is
// replaced on the next call, which retries the operation with backoff: every operation is one
// transaction and idempotent, so a retry after an unknown commit outcome is safe.
class CrawlStore {
 public:
  explicit CrawlStore(std::string dsn);
  ~CrawlStore();
  CrawlStore(const CrawlStore&) = delete;
  CrawlStore& operator=(const CrawlStore&) = delete;

  // How long a failing database is retried before an operation gives up (default 60 s).
  void set_retry_budget(std::chrono::milliseconds budget) { retry_budget_ = budget; }
  // From any thread: calls from now on make one attempt and no retries, so that an owner
  // shutting down while the database is away is not held up for a retry budget per queued call.
  void StopRetrying() { stop_retrying_ = true; }
  // Connections opened so far (a retry after a lost server opens one; one after a deadlock
  // does not). For tests and metrics.
  int64_t connections_opened() const { return connections_opened_; }
  // Whether probe batches first try a plain COPY into the crawl's partition (default), falling
  // back to staging and merge when a row is already stored. Off: always merge (for benchmarks).
  void set_ingest_fast_path(bool on) { fast_path_ = on; }
  // The targets of the probe shards leased lately, against which probe results are checked
  // (lease_targets.h). Each store has its own; the coordinator's writers share one, since a
  // shard may be leased on one writer and its results ingested on another.
  void ShareLeaseTargets(std::shared_ptr<LeaseTargets> targets);
  LeaseTargets& lease_targets() { return *lease_targets_; }

  // Creates a crawl in state 'resolving' with its domains (COPY) cut into resolve shards.
  absl::StatusOr<int64_t> CreateCrawl(const CrawlSpec& spec,
                                      const std::vector<DomainInput>& domains);
  // Fills `chunk` with the next domains; returns false at the end, an error to give up.
  using DomainSource = std::function<absl::StatusOr<bool>(std::vector<DomainInput>& chunk)>;
  // The same for a domain list that arrives in chunks (a client stream): each chunk goes into
  // the COPY as it comes, so memory does not grow with the list. One transaction: an error of
  // the source or the database leaves no crawl behind. Not retried (the source cannot rewind).
  absl::StatusOr<int64_t> CreateCrawlFrom(const CrawlSpec& spec, const DomainSource& next);

  // Leases the next open shard of any running crawl (oldest crawl first) to `owner` for
  // `duration`, or nullopt when there is none. Shards out of attempts are marked failed.
  absl::StatusOr<std::optional<Lease>> LeaseShard(const std::string& owner,
                                                  std::chrono::seconds duration);
  // Extends every lease `owner` holds (heartbeat).
  absl::Status RenewLeases(const std::string& owner, std::chrono::seconds duration);
  // Hands back `owner`'s unfinished leases (a draining worker), without counting an attempt.
  absl::Status ReleaseLeases(const std::string& owner);

  // Probe results are stored under (crawl, target_id), so each must be the target it names: a
  // target of its lease's shard, with that target's address, port and MX name. A batch with a
  // result that is not (or with no target id, as a standalone probe's) is refused whole with
  // InvalidArgument naming the worker and the target, and nothing of it is stored.
  absl::StatusOr<IngestResult> IngestProbes(const LeaseRef& lease,
                                            const std::vector<ProbeResult>& results,
                                            bool shard_complete, const std::string& worker);
  // One worker batch of probe results, for IngestProbeBatches.
  struct ProbeBatch {
    LeaseRef lease;
    const std::vector<ProbeResult>* results = nullptr;
    bool shard_complete = false;
    std::string worker;
  };
  // Several batches in one transaction (one result per batch, in order), the rows of those of
  // the same crawl in one COPY: the per-statement and per-commit costs are paid once. Each
  // batch keeps its own lease fencing and progress, as if ingested alone in this order; all
  // or none commit, so acking every batch after the commit keeps "acked means stored".
  absl::StatusOr<std::vector<IngestResult>> IngestProbeBatches(
      const std::vector<ProbeBatch>& batches);
  // Domain results: each must be a domain of its lease's shard, with addresses that are
  // addresses and text the database takes. A batch with one that is not is refused whole with
  // InvalidArgument naming the worker, the domain and what is wrong, and nothing of it is stored.
  absl::StatusOr<IngestResult> IngestDomains(const LeaseRef& lease,
                                             const std::vector<DomainResult>& results,
                                             bool shard_complete, const std::string& worker = {});

  // A batch that cannot be stored as it is (IngestProbes or IngestDomains returned
  // InvalidArgument: a result that is not the item it names, an address that is not one, text
  // the database refuses, ...).
  struct RefusedBatch {
    LeaseRef lease;
    std::string worker;
    uint64_t batch_id = 0;  // the worker's number of the batch
    std::string reason;     // the refusal's message
    bool shard_complete = false;
    const std::vector<ProbeResult>* probes = nullptr;    // a probe batch's results, or
    const std::vector<DomainResult>* domains = nullptr;  // a resolve batch's
  };
  // Results kept in refused_batch.payload at most: the first ones, up to this many and about
  // kRefusedPayloadMaxBytes of JSON (the column payload_items says how many).
  static constexpr size_t kRefusedPayloadMaxItems = 1000;
  static constexpr size_t kRefusedPayloadMaxBytes = 4 << 20;
  // Keeps `batch` in refused_batch (docs/crawl.md), so that it can be acked: the worker drops it
  // instead of re-sending it forever, and the refusal can be read later. Nothing of it goes into
  // probe and no progress is counted; if it completed its shard, the shard is closed as by an
  // empty batch (handed back with its items missing, for another lease to probe). The same
  // batch again (same worker, lease, batch number, content) adds no row. Returns whether a row
  // was added. An error (the database away) means nothing is recorded: do not ack.
  absl::StatusOr<bool> RecordRefusedBatch(const RefusedBatch& batch);

  // Moves crawls along their lifecycle: resolving -> probing (deriving the unique targets and
  // cutting probe shards) -> finished. Returns the ids of crawls that changed state.
  absl::StatusOr<std::vector<int64_t>> AdvanceCrawls();

  absl::StatusOr<CrawlInfo> GetCrawl(int64_t crawl_id);
  // State and progress only, for a progress line polled twice a second: domains_resolved and
  // targets_probed are the shards' items done (no outcomes, shards_failed 0). GetCrawl counts
  // the crawl's domain and probe rows, which at 100,000 targets cost PostgreSQL tens of ms.
  absl::StatusOr<CrawlInfo> GetCrawlProgress(int64_t crawl_id);
  // Newest first.
  absl::StatusOr<std::vector<CrawlInfo>> ListCrawls(int limit);
  absl::StatusOr<CrawlHeadline> Headline(int64_t crawl_id);
  // Returns the crawl's state afterwards ('cancelled', or its final state if already over).
  absl::StatusOr<std::string> CancelCrawl(int64_t crawl_id);
  // Two small aggregate queries over the shard table, for the metrics ticker.
  absl::StatusOr<OpsSnapshot> Snapshot();

  // Hashes a raw SHA-256 by its first bytes (as random as any hash of them). Transparent, so
  // that a digest is looked up where it lies in a result, without a copy.
  struct ShaHash {
    using is_transparent = void;
    size_t operator()(std::string_view sha) const;
  };
  // SHA-256 -> whether the stored certificate has a summary.
  using KnownCerts = std::unordered_map<std::string, bool, ShaHash, std::equal_to<>>;

 private:
  template <typename T, typename Fn>
  absl::StatusOr<T> Run(const char* what, Fn&& fn);
  absl::StatusOr<pqxx::connection*> Conn();
  void RememberCertificates(const std::vector<std::pair<std::string, bool>>& stored);

  // SHA-256 of certificates committed through this store -> stored with a summary. A batch
  // sends only certificates missing here: chains repeat across many hosts.
  static constexpr size_t kKnownCertsMax = 100000;
  KnownCerts known_certs_;

  std::shared_ptr<LeaseTargets> lease_targets_;
  std::string dsn_;
  std::unique_ptr<pqxx::connection> conn_;
  int64_t connections_opened_ = 0;
  bool fast_path_ = true;
  // The binary COPY data of probe batches, kept between batches (see BinaryCopyRows): the fast
  // path's, and the merge path's (a batch the fast path refused is sent from copy_buffer_).
  static constexpr size_t kCopyBufferKeepBytes = 16 << 20;
  std::string copy_buffer_;
  std::string merge_buffer_;
  bool staging_ready_ = false;  // the temp staging tables exist on conn_
  std::chrono::milliseconds retry_budget_{60000};
  std::atomic<bool> stop_retrying_{false};
};

}  // namespace mxcensus::storage
