#include "storage/crawl_store.h"

#include <thread>

#include "storage/copy_row.h"
#include "storage/crawl_store_internal.h"
#include "storage/db.h"
#include "storage/lease_targets.h"

namespace mxcensus::storage {

const char* ShardKindName(ShardKind k) { return k == ShardKind::kResolve ? "resolve" : "probe"; }

CrawlStore::CrawlStore(std::string dsn)
    : lease_targets_(std::make_shared<LeaseTargets>()), dsn_(std::move(dsn)) {}
CrawlStore::~CrawlStore() = default;

void CrawlStore::ShareLeaseTargets(std::shared_ptr<LeaseTargets> targets) {
  lease_targets_ = std::move(targets);
}

absl::StatusOr<pqxx::connection*> CrawlStore::Conn() {
  if (conn_ && conn_->is_open()) return conn_.get();
  conn_.reset();
  staging_ready_ = false;
  known_certs_.clear();  // a new connection may be a different server behind the same DSN
  auto c = Connect(dsn_);
  if (!c.ok()) return c.status();
  conn_ = *std::move(c);
  ++connections_opened_;
  return conn_.get();
}

RetryAction RetryFor(const absl::Status& status, int rolled_back) {
  if (absl::IsUnavailable(status)) return RetryAction::kReconnect;
  if (absl::IsAborted(status) && rolled_back < kMaxRollbackRetries) return RetryAction::kAgainNow;
  return RetryAction::kGiveUp;
}

namespace {

// Fresh planner statistics for `tables`. Only an optimisation: autovacuum analyzes them later
// anyway, so a failure is not the caller's error.
void Analyze(pqxx::connection& c, const std::string& tables) {
  try {
    pqxx::nontransaction n(c);
    n.exec("ANALYZE " + tables);
  } catch (const pqxx::sql_error&) {
  }
}

// ", " and the tables that hold crawl `id`'s probe rows (mxcensus_probe_tables, 0009), for
// ANALYZE: its partition's slots, not the partition, whose ANALYZE would also sample it as a
// whole, for statistics no query uses (views reach the slots through `probe` and the crawl id).
std::string ProbeTables(pqxx::connection& c, int64_t id) {
  try {
    pqxx::nontransaction n(c);
    return n
        .exec_params(
            "SELECT coalesce(string_agg(', ' || t::text, ''), '') "
            "FROM mxcensus_probe_tables($1) t",
            id)[0][0]
        .as<std::string>();
  } catch (const pqxx::sql_error&) {
    return "";
  }
}

// A domain source's error, carried out of the transaction. Not a std::exception, so that
// WithSqlErrors does not turn it into a database error.
struct SourceError {
  absl::Status status;
};

int64_t CreateCrawlTx(pqxx::connection& c, const CrawlSpec& spec,
                      const CrawlStore::DomainSource& next) {
  pqxx::work tx(c);
  const int64_t id =
      tx.exec_params(
            "INSERT INTO crawl (name, port, state, resolve_shard_size, probe_shard_size, "
            "max_attempts, probe_ipv6, started_at) "
            "VALUES ($1, $2, 'resolving', $3, $4, $5, $6, now()) RETURNING crawl_id",
            spec.name, static_cast<int>(spec.port), spec.resolve_shard_size, spec.probe_shard_size,
            spec.max_attempts, spec.probe_ipv6)[0][0]
          .as<int64_t>();
  tx.exec_params("SELECT mxcensus_create_probe_partition($1)", id);
  int64_t count = 0;
  {
    CopyWriter s(tx, "crawl_domain",
                 std::vector<std::string>{"crawl_id", "domain", "rank", "shard_id"});
    CopyRow row;
    std::vector<DomainInput> chunk;
    while (true) {
      chunk.clear();
      auto more = next(chunk);
      if (!more.ok()) throw SourceError(more.status());
      for (const auto& d : chunk) {
        row.Clear();
        row.Add(id).Add(d.domain);
        if (d.rank > 0) {
          row.Add(d.rank);
        } else {
          row.Null();
        }
        row.Add(count++ / spec.resolve_shard_size);
        row.WriteTo(s);
      }
      if (!*more) break;
    }
    s.Complete();
  }
  tx.exec_params(
      "INSERT INTO shard (crawl_id, kind, shard_id, items) "
      "SELECT $1, 'resolve', shard_id, count(*) FROM crawl_domain WHERE crawl_id = $1 "
      "GROUP BY shard_id",
      id);
  tx.exec_params("UPDATE crawl SET domains_total = $2 WHERE crawl_id = $1", id, count);
  tx.commit();
  // Each batch of resolved domains is an UPDATE joining crawl_domain on its key. Without
  // statistics the planner takes the freshly loaded list for one row and scans all of it per
  // batch (measured: 1-2 s per batch of 250 at 40,000 domains, quadratic in the list).
  Analyze(c, "crawl_domain");
  return id;
}

}  // namespace

absl::StatusOr<int64_t> CrawlStore::CreateCrawl(const CrawlSpec& spec,
                                                const std::vector<DomainInput>& domains) {
  return Run<int64_t>("create crawl", [&](pqxx::connection& c) -> absl::StatusOr<int64_t> {
    // The whole list is one chunk; a retry starts it again.
    bool sent = false;
    return CreateCrawlTx(c, spec, [&](std::vector<DomainInput>& chunk) -> absl::StatusOr<bool> {
      if (!sent) chunk = domains;
      sent = true;
      return false;
    });
  });
}

absl::StatusOr<int64_t> CrawlStore::CreateCrawlFrom(const CrawlSpec& spec,
                                                    const DomainSource& next) {
  auto conn = Conn();
  if (!conn.ok()) return conn.status();
  try {
    return WithSqlErrors("create crawl", [&]() -> absl::StatusOr<int64_t> {
      return CreateCrawlTx(**conn, spec, next);
    });
  } catch (const SourceError& e) {
    return e.status;  // the transaction was rolled back by its destructor
  }
}

absl::StatusOr<std::optional<Lease>> CrawlStore::LeaseShard(const std::string& owner,
                                                            std::chrono::seconds duration) {
  using R = std::optional<Lease>;
  return Run<R>("lease shard", [&](pqxx::connection& c) -> absl::StatusOr<R> {
    pqxx::work tx(c);
    while (true) {
      auto pick = tx.exec(
          "SELECT s.crawl_id, s.kind, s.shard_id, s.attempts, c.max_attempts FROM shard s "
          "JOIN crawl c USING (crawl_id) "
          "WHERE s.state IN ('pending', 'leased') "
          "  AND (s.state = 'pending' OR s.lease_until < now()) "
          "  AND ((c.state = 'resolving' AND s.kind = 'resolve') OR "
          "       (c.state = 'probing' AND s.kind = 'probe')) "
          "ORDER BY s.crawl_id, s.shard_id LIMIT 1 FOR UPDATE OF s SKIP LOCKED");
      if (pick.empty()) {
        tx.commit();
        return R{};
      }
      LeaseRef ref;
      ref.crawl_id = pick[0][0].as<int64_t>();
      ref.kind =
          pick[0][1].as<std::string>() == "resolve" ? ShardKind::kResolve : ShardKind::kProbe;
      ref.shard_id = pick[0][2].as<int>();
      const int attempts = pick[0][3].as<int>();
      const int max_attempts = pick[0][4].as<int>();
      const std::string kind = ShardKindName(ref.kind);
      if (attempts >= max_attempts) {
        // Reported (shard.state, crawl status), never retried forever.
        tx.exec_params(
            "UPDATE shard SET state = 'failed', lease_owner = NULL, lease_until = NULL, "
            "last_error = 'gave up after ' || attempts || ' attempts', updated_at = now() "
            "WHERE crawl_id = $1 AND kind = $2 AND shard_id = $3",
            ref.crawl_id, kind, ref.shard_id);
        continue;
      }
      Lease lease;
      if (ref.kind == ShardKind::kResolve) {
        for (const auto& row :
             tx.exec_params("SELECT domain FROM crawl_domain WHERE crawl_id = $1 AND shard_id = $2 "
                            "AND status IS NULL ORDER BY domain",
                            ref.crawl_id, ref.shard_id)) {
          lease.domains.push_back(row[0].as<std::string>());
        }
      } else {
        // A shard never leased has no results (a result is stored only for a target of a
        // shard leased before), so its first lease skips the probe lookup. A later lease looks
        // up each target's row through the probe key: OFFSET 0 keeps the subquery a per-row
        // index probe, which the planner would otherwise turn into a hash anti-join over the
        // whole partition whenever its statistics are those of a partition still being filled
        // (at 100k targets that was 140 ms per lease instead of well under 1 ms).
        const char* targets_sql =
            attempts == 0 ? "SELECT t.target_id, host(t.ip), t.port, t.mx_name FROM target t "
                            "WHERE t.crawl_id = $1 AND t.shard_id = $2 ORDER BY t.target_id"
                          : "SELECT t.target_id, host(t.ip), t.port, t.mx_name FROM target t "
                            "WHERE t.crawl_id = $1 AND t.shard_id = $2 AND NOT EXISTS ("
                            "  SELECT 1 FROM probe p WHERE p.crawl_id = t.crawl_id "
                            "  AND p.target_id = t.target_id OFFSET 0) ORDER BY t.target_id";
        for (const auto& row : tx.exec_params(targets_sql, ref.crawl_id, ref.shard_id)) {
          lease.targets.push_back(TargetRow{row[0].as<int64_t>(), row[1].as<std::string>(),
                                            static_cast<uint16_t>(row[2].as<int>()),
                                            row[3].as<std::string>()});
        }
      }
      if (lease.domains.empty() && lease.targets.empty()) {
        // Everything arrived already (e.g. a late result of an expired lease completed it).
        tx.exec_params(
            "UPDATE shard SET state = 'done', lease_owner = NULL, lease_until = NULL, "
            "items_done = items, updated_at = now() "
            "WHERE crawl_id = $1 AND kind = $2 AND shard_id = $3",
            ref.crawl_id, kind, ref.shard_id);
        continue;
      }
      ref.token = tx.exec_params(
                        "UPDATE shard SET state = 'leased', lease_owner = $4, "
                        "lease_token = nextval('lease_token_seq'), "
                        "lease_until = now() + make_interval(secs => $5), "
                        "attempts = attempts + 1, updated_at = now() "
                        "WHERE crawl_id = $1 AND kind = $2 AND shard_id = $3 RETURNING lease_token",
                        ref.crawl_id, kind, ref.shard_id, owner,
                        static_cast<double>(duration.count()))[0][0]
                      .as<int64_t>();
      tx.commit();
      lease.ref = ref;
      // Its results are checked against these without a query (lease_targets.h).
      if (ref.kind == ShardKind::kProbe) {
        lease_targets_->Add(ref.crawl_id, ref.shard_id, lease.targets);
      }
      return R{std::move(lease)};
    }
  });
}

absl::Status CrawlStore::RenewLeases(const std::string& owner, std::chrono::seconds duration) {
  auto r = Run<bool>("renew leases", [&](pqxx::connection& c) -> absl::StatusOr<bool> {
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE shard SET lease_until = now() + make_interval(secs => $2), updated_at = now() "
        "WHERE lease_owner = $1 AND state = 'leased'",
        owner, static_cast<double>(duration.count()));
    tx.commit();
    return true;
  });
  return r.status();
}

absl::Status CrawlStore::ReleaseLeases(const std::string& owner) {
  auto r = Run<bool>("release leases", [&](pqxx::connection& c) -> absl::StatusOr<bool> {
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE shard SET state = 'pending', lease_owner = NULL, lease_until = NULL, "
        "attempts = greatest(attempts - 1, 0), updated_at = now() "
        "WHERE lease_owner = $1 AND state = 'leased'",
        owner);
    tx.commit();
    return true;
  });
  return r.status();
}

absl::StatusOr<std::vector<int64_t>> CrawlStore::AdvanceCrawls() {
  using R = std::vector<int64_t>;
  return Run<R>("advance crawls", [&](pqxx::connection& c) -> absl::StatusOr<R> {
    R changed;
    std::vector<int64_t> finished;
    pqxx::work tx(c);
    auto crawls = tx.exec(
        "SELECT crawl_id, state FROM crawl c WHERE state IN ('resolving', 'probing') "
        "AND NOT EXISTS (SELECT 1 FROM shard s WHERE s.crawl_id = c.crawl_id "
        "  AND s.state IN ('pending', 'leased') "
        "  AND s.kind = CASE WHEN c.state = 'resolving' THEN 'resolve' ELSE 'probe' END) "
        "ORDER BY crawl_id FOR UPDATE SKIP LOCKED");
    for (const auto& row : crawls) {
      const int64_t id = row[0].as<int64_t>();
      if (row[1].as<std::string>() == "resolving") {
        DeriveTargets(tx, id);
      } else {
        tx.exec_params(
            "UPDATE crawl SET state = 'finished', finished_at = now() WHERE crawl_id = $1", id);
        // Autovacuum was off while the partition filled (0007); the ANALYZE below follows.
        tx.exec_params("SELECT mxcensus_end_probe_partition($1)", id);
        finished.push_back(id);
      }
      changed.push_back(id);
    }
    tx.commit();
    // Fresh statistics for the views researchers query next (0003_views.sql): before
    // autovacuum gets to the new rows the planner takes the tables for empty and picks plans
    // that take minutes instead of a second. ANALYZE samples, so this stays cheap at any size.
    for (int64_t id : finished) {
      Analyze(c, "crawl_domain, domain_mx, mx_host, target, certificate" + ProbeTables(c, id));
    }
    return changed;
  });
}

}  // namespace mxcensus::storage
