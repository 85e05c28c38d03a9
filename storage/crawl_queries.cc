// Crawl lifecycle queries of CrawlStore: target derivation, status, listing, cancellation.
#include "storage/crawl_store_internal.h"

namespace mxcensus::storage {
namespace {

int64_t ToMs(const pqxx::field& f) {
  return f.is_null() ? 0 : static_cast<int64_t>(f.as<double>() * 1000);
}

// The kInfoColumns of a crawl row.
CrawlInfo ReadInfoColumns(const pqxx::row& row) {
  CrawlInfo info;
  info.crawl_id = row["crawl_id"].as<int64_t>();
  info.name = row["name"].as<std::string>();
  info.state = row["state"].as<std::string>();
  info.port = static_cast<uint16_t>(row["port"].as<int>());
  info.domains_total = row["domains_total"].as<int64_t>();
  info.targets_total = row["targets_total"].as<int64_t>();
  info.created_at_ms = ToMs(row["created"]);
  info.finished_at_ms = ToMs(row["finished"]);
  return info;
}

CrawlInfo ReadInfo(pqxx::work& tx, const pqxx::row& row) {
  CrawlInfo info = ReadInfoColumns(row);
  const int64_t id = info.crawl_id;
  info.domains_resolved =
      tx.exec_params("SELECT count(*) FROM crawl_domain WHERE crawl_id = $1 AND status IS NOT NULL",
                     id)[0][0]
          .as<int64_t>();
  info.shards_failed =
      tx.exec_params("SELECT count(*) FROM shard WHERE crawl_id = $1 AND state = 'failed'",
                     id)[0][0]
          .as<int>();
  for (const auto& r : tx.exec_params(
           "SELECT outcome::text, count(*) FROM probe WHERE crawl_id = $1 GROUP BY 1", id)) {
    info.outcomes[r[0].as<std::string>()] = r[1].as<int64_t>();
    info.targets_probed += r[1].as<int64_t>();
  }
  return info;
}

constexpr const char* kInfoColumns =
    "crawl_id, name, state::text AS state, port, domains_total, targets_total, "
    "extract(epoch FROM created_at) AS created, extract(epoch FROM finished_at) AS finished";

}  // namespace

void DeriveTargets(pqxx::work& tx, int64_t crawl_id) {
  // The whole crawl's targets are de-duplicated and sorted in one statement: with the default
  // 4 MB both spilled to temporary files at 100k targets.
  // The INSERT below is also planned above jit_above_cost, and compiling it cost more than it
  // saved: 0.1-0.2 s more for 107,649 targets (docs/crawl.md, "Eighth pass").
  tx.exec("SET LOCAL work_mem = '64MB'; SET LOCAL jit = off");
  // The resolve stage has just filled these tables with this crawl's rows, and autovacuum may
  // not have sampled them yet: planned on statistics that know no row of this crawl, the join
  // became a nested loop over all of them, and deriving 21k targets took minutes instead of a
  // second (the intermittent "stall" of a second crawl in one database). ANALYZE samples, so
  // its cost does not grow with the crawl; only the join's columns, since every worker waits
  // for this statement: the arrays and JSON of mx_host made the whole-table ANALYZE 0.5 s at
  // 100k targets, these two columns 0.2 s. The crawl's end analyzes every column.
  tx.exec("ANALYZE mx_host (crawl_id, mx_name), domain_mx (crawl_id, mx_name)");
  const auto c = tx.exec_params(
      "SELECT port, probe_shard_size, probe_ipv6 FROM crawl WHERE crawl_id = $1", crawl_id)[0];
  const int shard_size = c[1].as<int>();
  // md5 of (crawl, address, name) gives a per-crawl shuffle that is stable across re-runs:
  // hosts of one network are spread over the crawl instead of hit back to back. As uuid it
  // sorts by memcmp, in the same order as the hex text, without the locale's collation.
  // The MX names that some domain lists are a semi-join (hashed), not one index lookup per
  // host. No ON CONFLICT: this transaction also moves the crawl out of 'resolving' under the
  // crawl row's lock, so it runs once, and DISTINCT makes the rows unique.
  //
  // The probe partition's two slots (0009) split the targets at `split`, the end of the first
  // ceil(shards / 2) shards: the first slot's targets go to the even shards, the second's to the
  // odd ones, so that shards leased in order alternate between the slots (and the coordinator's
  // two writers). Each shard holds consecutive target ids: its slot's next `size`.
  const int64_t targets =
      tx.exec_params(
            "INSERT INTO target (crawl_id, target_id, ip, port, mx_name, shard_id) "
            "SELECT $1, n, ip, $2, mx_name, (CASE WHEN n <= split THEN 2 * ((n - 1) / $3) "
            "                                  ELSE 2 * ((n - split - 1) / $3) + 1 END)::integer "
            "FROM (SELECT ip, mx_name, n, "
            "             least(total, ((total + $3 - 1) / $3 + 1) / 2 * $3) AS split FROM ("
            "  SELECT ip, mx_name,"
            "         row_number() OVER (ORDER BY md5($1::text || host(ip) || mx_name)::uuid) AS n,"
            "         count(*) OVER () AS total"
            "  FROM (SELECT DISTINCT a.ip, h.mx_name FROM mx_host h"
            "        CROSS JOIN LATERAL unnest(h.ipv4 || CASE WHEN $4 THEN h.ipv6"
            "                                           ELSE '{}'::inet[] END) AS a(ip)"
            "        WHERE h.crawl_id = $1 AND h.mx_name IN (SELECT m.mx_name FROM domain_mx m"
            "                                                WHERE m.crawl_id = $1)) u) t0) t",
            crawl_id, c[0].as<int>(), shard_size, c[2].as<bool>())
          .affected_rows();
  const int64_t size = shard_size;
  const int64_t split = std::min(targets, ((targets + size - 1) / size + 1) / 2 * size);
  const int64_t shards = (split + size - 1) / size + (targets - split + size - 1) / size;
  // Counted, not read back: shard 2j holds the first slot's targets j * size + 1 .. (j + 1) *
  // size, shard 2j + 1 the second slot's (after `split`).
  tx.exec_params(
      "INSERT INTO shard (crawl_id, kind, shard_id, items) "
      "SELECT $1, 'probe', k, least($3::bigint, CASE WHEN k % 2 = 0 THEN $4::bigint "
      "                                          ELSE $2::bigint - $4::bigint END "
      "                                     - k / 2 * $3::bigint) "
      "FROM generate_series(0, $5::bigint - 1) k "
      "ON CONFLICT DO NOTHING",
      crawl_id, targets, size, split, shards);
  // Waits at most 2 s for readers of `probe` (0009): on a timeout, the next pass derives again.
  if (targets > 0) tx.exec_params("SELECT mxcensus_create_probe_slots($1, $2)", crawl_id, split);
  tx.exec_params(
      "UPDATE crawl SET targets_total = $2::bigint, resolved_at = now(), "
      "state = CASE WHEN $2::bigint = 0 THEN 'finished'::crawl_state "
      "ELSE 'probing'::crawl_state END, "
      "finished_at = CASE WHEN $2::bigint = 0 THEN now() END WHERE crawl_id = $1",
      crawl_id, targets);
  if (targets == 0) tx.exec_params("SELECT mxcensus_end_probe_partition($1)", crawl_id);  // 0007
}

absl::StatusOr<CrawlInfo> CrawlStore::GetCrawl(int64_t crawl_id) {
  return Run<CrawlInfo>("crawl status", [&](pqxx::connection& c) -> absl::StatusOr<CrawlInfo> {
    pqxx::work tx(c);
    auto rows = tx.exec_params(
        std::string("SELECT ") + kInfoColumns + " FROM crawl WHERE crawl_id = $1", crawl_id);
    if (rows.empty()) return absl::NotFoundError("no crawl " + std::to_string(crawl_id));
    return ReadInfo(tx, rows[0]);
  });
}

absl::StatusOr<CrawlInfo> CrawlStore::GetCrawlProgress(int64_t crawl_id) {
  return Run<CrawlInfo>("crawl progress", [&](pqxx::connection& c) -> absl::StatusOr<CrawlInfo> {
    pqxx::work tx(c);
    auto rows = tx.exec_params(
        std::string("SELECT ") + kInfoColumns +
            ", (SELECT coalesce(sum(items_done), 0) FROM shard s WHERE s.crawl_id = crawl.crawl_id"
            "   AND s.kind = 'resolve') AS resolved,"
            " (SELECT coalesce(sum(items_done), 0) FROM shard s WHERE s.crawl_id = crawl.crawl_id"
            "   AND s.kind = 'probe') AS probed FROM crawl WHERE crawl_id = $1",
        crawl_id);
    if (rows.empty()) return absl::NotFoundError("no crawl " + std::to_string(crawl_id));
    const auto& row = rows[0];
    CrawlInfo info = ReadInfoColumns(row);
    info.domains_resolved = row["resolved"].as<int64_t>();
    info.targets_probed = row["probed"].as<int64_t>();
    return info;
  });
}

absl::StatusOr<std::vector<CrawlInfo>> CrawlStore::ListCrawls(int limit) {
  using R = std::vector<CrawlInfo>;
  return Run<R>("list crawls", [&](pqxx::connection& c) -> absl::StatusOr<R> {
    pqxx::work tx(c);
    R out;
    for (const auto& row : tx.exec_params(
             std::string("SELECT ") + kInfoColumns + " FROM crawl ORDER BY crawl_id DESC LIMIT $1",
             limit)) {
      out.push_back(ReadInfo(tx, row));
    }
    return out;
  });
}

absl::StatusOr<CrawlHeadline> CrawlStore::Headline(int64_t crawl_id) {
  return Run<CrawlHeadline>("headline", [&](pqxx::connection& c) -> absl::StatusOr<CrawlHeadline> {
    pqxx::work tx(c);
    CrawlHeadline h;
    // A domain is judged by every probe of every address of every MX name it lists.
    auto r = tx.exec_params(
        "WITH dom AS ("
        "  SELECT d.domain, bool_and(p.outcome = 'starttls_ok') AS all_tls,"
        "    bool_and(p.outcome = 'starttls_ok' AND p.chain_valid AND p.name_match) AS all_valid"
        "  FROM crawl_domain d"
        "  JOIN domain_mx m ON m.crawl_id = d.crawl_id AND m.domain = d.domain"
        "  JOIN probe p ON p.crawl_id = d.crawl_id AND p.mx_name = m.mx_name"
        "  WHERE d.crawl_id = $1 AND d.status = 'ok' GROUP BY d.domain) "
        "SELECT (SELECT count(*) FROM crawl_domain WHERE crawl_id = $1),"
        "  (SELECT count(*) FROM crawl_domain WHERE crawl_id = $1 AND status = 'ok'),"
        "  count(*), count(*) FILTER (WHERE all_tls), count(*) FILTER (WHERE all_valid),"
        "  (SELECT count(*) FROM target WHERE crawl_id = $1) FROM dom",
        crawl_id);
    h.domains = r[0][0].as<int64_t>();
    h.domains_with_mx = r[0][1].as<int64_t>();
    h.domains_probed = r[0][2].as<int64_t>();
    h.domains_all_starttls = r[0][3].as<int64_t>();
    h.domains_all_valid = r[0][4].as<int64_t>();
    h.targets = r[0][5].as<int64_t>();
    for (const auto& row :
         tx.exec_params("SELECT coalesce(status::text, 'unresolved'), count(*) FROM crawl_domain "
                        "WHERE crawl_id = $1 GROUP BY 1 ORDER BY 2 DESC, 1",
                        crawl_id)) {
      h.dns_statuses.emplace_back(row[0].as<std::string>(), row[1].as<int64_t>());
    }
    for (const auto& row :
         tx.exec_params("SELECT outcome::text, count(*) FROM probe WHERE crawl_id = $1 GROUP BY 1 "
                        "ORDER BY 2 DESC, 1",
                        crawl_id)) {
      h.outcomes.emplace_back(row[0].as<std::string>(), row[1].as<int64_t>());
    }
    return h;
  });
}

absl::StatusOr<std::string> CrawlStore::CancelCrawl(int64_t crawl_id) {
  return Run<std::string>("cancel crawl", [&](pqxx::connection& c) -> absl::StatusOr<std::string> {
    pqxx::work tx(c);
    auto rows =
        tx.exec_params("SELECT state::text FROM crawl WHERE crawl_id = $1 FOR UPDATE", crawl_id);
    if (rows.empty()) return absl::NotFoundError("no crawl " + std::to_string(crawl_id));
    const std::string state = rows[0][0].as<std::string>();
    if (state == "finished" || state == "cancelled" || state == "failed") return state;
    tx.exec_params("UPDATE crawl SET state = 'cancelled', finished_at = now() WHERE crawl_id = $1",
                   crawl_id);
    tx.exec_params("SELECT mxcensus_end_probe_partition($1)", crawl_id);  // 0007
    tx.exec_params(
        "UPDATE shard SET state = 'failed', last_error = 'crawl cancelled', lease_owner = NULL, "
        "lease_until = NULL, updated_at = now() "
        "WHERE crawl_id = $1 AND state IN ('pending', 'leased')",
        crawl_id);
    tx.commit();
    return std::string("cancelled");
  });
}

absl::StatusOr<OpsSnapshot> CrawlStore::Snapshot() {
  return Run<OpsSnapshot>(
      "metrics snapshot", [&](pqxx::connection& c) -> absl::StatusOr<OpsSnapshot> {
        pqxx::work tx(c);
        OpsSnapshot snap;
        for (const auto& r :
             tx.exec("SELECT s.kind, s.state, count(*) FROM shard s JOIN crawl c USING (crawl_id) "
                     "WHERE c.state IN ('pending', 'resolving', 'probing') GROUP BY 1, 2")) {
          snap.shards[{r[0].as<std::string>(), r[1].as<std::string>()}] = r[2].as<int64_t>();
        }
        for (const auto& r :
             tx.exec("SELECT kind, sum(items_done)::float8 / greatest(sum(items), 1) FROM shard "
                     "WHERE crawl_id = (SELECT max(crawl_id) FROM crawl) GROUP BY kind")) {
          snap.progress[r[0].as<std::string>()] = r[1].as<double>();
        }
        return snap;
      });
}

}  // namespace mxcensus::storage
