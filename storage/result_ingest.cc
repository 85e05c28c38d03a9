// Result ingestion of CrawlStore: COPY into per-connection staging tables, then an idempotent
// merge keyed by crawl and target, in the same transaction as the shard's progress.
#include <arpa/inet.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "common/public_suffix.h"
#include "common/result_json.h"
#include "nlohmann/json.hpp"
#include "storage/copy_binary.h"
#include "storage/copy_row.h"
#include "storage/crawl_store_internal.h"
#include "storage/lease_targets.h"

namespace mxcensus::storage {
namespace {

// Probe columns filled from a result, in COPY order; chain_sha256 and leaf_sha256 are computed
// here, not in SQL: hashing every chain element of every row in the merge was its main cost.
const std::vector<std::string> kProbeColumns = {"crawl_id",
                                                "ip",
                                                "port",
                                                "mx_name",
                                                "tag",
                                                "target_id",
                                                "outcome",
                                                "stage",
                                                "error",
                                                "banner",
                                                "ehlo",
                                                "ehlo_tls",
                                                "helo_fallback",
                                                "pipelined_after_starttls",
                                                "code_banner",
                                                "code_ehlo",
                                                "code_helo",
                                                "code_starttls",
                                                "code_ehlo_tls",
                                                "code_quit",
                                                "tls_version",
                                                "tls_cipher",
                                                "tls_group",
                                                "dh_bits",
                                                "chain_valid",
                                                "verify_error",
                                                "name_match",
                                                "tls_alert",
                                                "ms_connect",
                                                "ms_banner",
                                                "ms_ehlo",
                                                "ms_starttls",
                                                "ms_tls",
                                                "ms_ehlo_tls",
                                                "ms_quit",
                                                "ms_total",
                                                "started_at",
                                                "worker",
                                                "tls_handshake_complete",
                                                "chain_sha256",
                                                "leaf_sha256"};

std::string Joined(const std::vector<std::string>& cols) {
  std::string out;
  for (size_t i = 0; i < cols.size(); ++i) {
    if (i) out += ", ";
    out += cols[i];
  }
  return out;
}

void CreateStaging(pqxx::work& tx) {
  // Temporary and per connection; emptied at every commit.
  tx.exec(
      "CREATE TEMP TABLE IF NOT EXISTS probe_staging (LIKE probe INCLUDING DEFAULTS) "
      "ON COMMIT DELETE ROWS;"
      "CREATE TEMP TABLE IF NOT EXISTS cert_staging (sha256 bytea NOT NULL, der bytea NOT NULL, "
      "subject text, issuer text, sans text[], not_before timestamptz, not_after timestamptz, "
      "key_type text, key_bits integer, sig_alg text, self_signed boolean) ON COMMIT DELETE ROWS;"
      "CREATE TEMP TABLE IF NOT EXISTS domain_staging (domain text, status dns_status, "
      "null_mx boolean, implicit_mx boolean, mta_sts text, tls_rpt text, spf text, dmarc text, "
      "dmarc_policy text, error text, resolved_at timestamptz) ON COMMIT DELETE ROWS;"
      "CREATE TEMP TABLE IF NOT EXISTS mx_staging (domain text, mx_name text, preference integer, "
      "status dns_status, ipv4 inet[], ipv6 inet[], cname text, tlsa jsonb, tlsa_ad boolean, "
      "registrable_domain text) ON COMMIT DELETE ROWS;"
      "SET LOCAL client_min_messages = warning;");
}

// storage may not use the worker's tls::Sha256Digest (DESIGN.md, "Layout"); like it, it fetches
// the algorithm once: EVP_sha256() in EVP_Digest fetches it from the provider on every call
// (OpenSSL 3.0), which costs more than hashing a certificate.
std::string Sha256(std::string_view der) {
  static const EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(der.data(), der.size(), md, &len, sha256, nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

// The distinct certificates of a group of batches, by SHA-256.
struct BatchCert {
  std::string_view sha256;
  std::string_view der;
  const CertSummary* summary = nullptr;  // set when some row presents it as its leaf
  // The coordinator hashed the DER itself. A digest the worker sent with it is checked against
  // the DER only when the certificate is stored: for one stored already, the DER is not read.
  bool hashed_here = false;
};
struct BatchCerts {
  std::unordered_map<std::string_view, BatchCert, CrawlStore::ShaHash> distinct;
  // The digest of every chain element of every row, in order (the rows' chain_sha256).
  std::vector<std::string_view> chain_sha256;
  // Chain elements a worker sent by SHA-256 alone (their DER empty): stored already, it says.
  std::vector<std::string_view> referenced;
  // Digests of DERs that came without one (node-based: the views above stay valid).
  std::deque<std::string> computed;
};

// A worker sends every chain element's SHA-256 (it names certificates by them), so the
// coordinator keys certificates by those instead of hashing each DER again: looking up ~1 KiB
// DERs per row in a map of them was its largest cost per row.
BatchCerts CollectCertificates(const std::vector<CrawlStore::ProbeBatch>& batches) {
  BatchCerts out;
  auto& certs = out.distinct;
  size_t rows = 0;
  for (const auto& b : batches) rows += b.results->size();
  certs.reserve(rows);
  for (const auto& b : batches) {
    for (const auto& r : *b.results) {
      if (!r.tls) continue;
      const TlsFacts& t = *r.tls;
      const bool digests_sent = t.chain_sha256.size() == t.chain_der.size();
      for (size_t i = 0; i < t.chain_der.size(); ++i) {
        const std::string& der = t.chain_der[i];
        if (der.empty() && i < t.chain_sha256.size()) {
          out.referenced.push_back(t.chain_sha256[i]);
          out.chain_sha256.push_back(t.chain_sha256[i]);
          continue;
        }
        std::string_view sha;
        bool hashed_here = false;
        if (digests_sent && t.chain_sha256[i].size() == 32) {
          sha = t.chain_sha256[i];
        } else {
          sha = out.computed.emplace_back(Sha256(der));
          hashed_here = true;
        }
        auto [it, fresh] = certs.try_emplace(sha);
        BatchCert& c = it->second;
        if (fresh) {
          c.sha256 = sha;
          c.der = der;
          c.hashed_here = hashed_here;
        } else if (hashed_here && !c.hashed_here) {
          // The same certificate, sent with a digest elsewhere: this DER is known to match.
          c.der = der;
          c.hashed_here = true;
        }
        if (c.summary == nullptr && i == 0 && t.leaf) c.summary = &*t.leaf;
        out.chain_sha256.push_back(sha);
      }
    }
  }
  return out;
}

void AddCode(BinaryCopyRows& row, const std::optional<int>& code) {
  row.Optional(code, [&](int v) { row.Int2(static_cast<int16_t>(v)); });
}

void AddTiming(BinaryCopyRows& row, const std::optional<double>& ms) {
  row.Optional(ms, [&](double v) { row.Float4(static_cast<float>(v)); });
}

void AddText(BinaryCopyRows& row, const std::optional<std::string>& v) {
  row.Optional(v, [&](const std::string& s) { row.Bytes(s); });
}

absl::Status NotAnAddress(const ProbeResult& r) {
  return absl::InvalidArgumentError("probe result for " + r.name + " port " +
                                    std::to_string(r.port) + ": '" + r.ip +
                                    "' is not an IP address");
}

// One probe row in binary COPY form, fields in kProbeColumns order and each in its column's
// exact type (0001_initial.sql, 0002). Fails on an address that is not one (CheckTargets has
// refused those already).
absl::Status AddProbeRow(BinaryCopyRows& row, int64_t crawl_id, const ProbeResult& r,
                         const std::string& worker, const BatchCerts& certs, size_t& next_sha,
                         std::vector<std::string_view>& chain) {
  row.BeginRow(static_cast<int16_t>(kProbeColumns.size()));
  row.Int8(crawl_id);
  if (!row.Inet(r.ip)) return NotAnAddress(r);
  row.Int4(r.port);
  row.Bytes(r.name);
  row.Bytes(r.tag);
  row.Int8(static_cast<int64_t>(r.target_id));  // checked: a target of the crawl
  row.Bytes(OutcomeName(r.outcome));
  row.Bytes(StageName(r.stage));
  AddText(row, r.error);
  row.Bytes(r.banner);
  row.TextArray(r.ehlo);
  row.TextArray(r.ehlo_tls);
  row.Bool(r.helo_fallback);
  row.Bool(r.pipelined_after_starttls);
  for (const auto* code : {&r.codes.banner, &r.codes.ehlo, &r.codes.helo, &r.codes.starttls,
                           &r.codes.ehlo_tls, &r.codes.quit}) {
    AddCode(row, *code);
  }
  if (r.tls) {
    const TlsFacts& t = *r.tls;
    for (const auto* s : {&t.version, &t.cipher, &t.group}) {
      if (s->empty()) {
        row.Null();
      } else {
        row.Bytes(*s);
      }
    }
    row.Optional(t.dh_bits, [&](int v) { row.Int4(v); });
    row.Bool(t.chain_valid);
    AddText(row, t.verify_error);
    row.Bool(t.name_match);
    AddText(row, t.alert);
  } else {
    for (int i = 0; i < 8; ++i) row.Null();
  }
  const StageTimings& m = r.timing_ms;
  for (const auto* ms :
       {&m.connect, &m.banner, &m.ehlo, &m.starttls, &m.tls, &m.ehlo_tls, &m.quit}) {
    AddTiming(row, *ms);
  }
  row.Float4(static_cast<float>(m.total));
  row.TimestampMs(r.started_at_ms);
  row.Bytes(worker);
  if (r.tls) {
    row.Bool(r.tls->handshake_complete);
  } else {
    row.Null();
  }
  if (r.tls && !r.tls->chain_der.empty()) {
    chain.clear();
    for (size_t i = 0; i < r.tls->chain_der.size(); ++i) {
      chain.push_back(certs.chain_sha256.at(next_sha++));
    }
    row.ByteaArray(chain);
    row.Bytes(chain.front());
  } else {
    row.Null();
    row.Null();
  }
  if (row.fields_in_row() != static_cast<int>(kProbeColumns.size())) {
    throw std::logic_error("probe row has " + std::to_string(row.fields_in_row()) + " fields for " +
                           std::to_string(kProbeColumns.size()) + " columns");
  }
  return absl::OkStatus();
}

const std::vector<std::string> kCertColumns = {"sha256",   "der",        "subject",    "issuer",
                                               "sans",     "not_before", "not_after",  "key_type",
                                               "key_bits", "sig_alg",    "self_signed"};

void AddCertRow(BinaryCopyRows& rows, std::string_view der, const BatchCert& c) {
  rows.BeginRow(static_cast<int16_t>(kCertColumns.size()));
  rows.Bytes(c.sha256);
  rows.Bytes(der);
  const CertSummary* s = c.summary;
  if (s == nullptr) {
    rows.Null();
    rows.Null();
    rows.TextArray({});  // the column is NOT NULL: the direct COPY gets no default for it
    for (int i = 0; i < 6; ++i) rows.Null();
    return;
  }
  rows.Bytes(s->subject);
  rows.Bytes(s->issuer);
  rows.TextArray(s->sans);
  rows.TimestampMs(s->not_before * 1000);
  rows.TimestampMs(s->not_after * 1000);
  rows.Bytes(s->key_type);
  rows.Int4(s->key_bits);
  rows.Bytes(s->sig_alg);
  rows.Bool(s->self_signed);
}

// Which of `shas` (raw SHA-256s) are stored, each with whether its row has a summary.
std::unordered_map<std::string, bool> StoredCertificates(
    pqxx::work& tx, const std::vector<std::string_view>& shas) {
  std::unordered_map<std::string, bool> stored;
  if (shas.empty()) return stored;
  std::map<std::string, std::string_view> by_hex;
  for (std::string_view sha : shas) by_hex.emplace(HexEncode(sha), sha);
  std::string list;  // hex digits only: safe to inline
  for (const auto& [hex, raw] : by_hex) {
    list += (list.empty() ? "'\\x" : ", '\\x") + hex + "'::bytea";
  }
  for (const auto& row : tx.exec("SELECT encode(sha256, 'hex'), subject IS NOT NULL "
                                 "FROM certificate WHERE sha256 IN (" +
                                 list + ")")) {
    auto it = by_hex.find(row[0].as<std::string>());
    if (it != by_hex.end()) stored[std::string(it->second)] = row[1].as<bool>();
  }
  return stored;
}

// Stores the certificates of a batch that are not stored already (with a summary, when it has
// one); `known` is what this connection knows to be stored, and learns what the lookup finds.
// Returns what to remember as stored once the transaction commits.
//
// Certificates that no row in the database has go straight into `certificate` by one binary
// COPY. A merge through a temporary staging table is what they took before, and it cost more
// than the COPY itself (the INSERT ... ON CONFLICT, and emptying every ON COMMIT DELETE ROWS
// table at each commit that touched one: docs/crawl.md). The merge remains for what the COPY
// cannot do: a stored intermediate that shows up as a leaf gets its summary, and certificates
// that another connection stored between the lookup and the COPY (a unique violation, which
// undoes the COPY's savepoint alone).
//
// A certificate to store whose digest the worker sent is hashed here first: a digest that is
// not its DER's would break what every row's chain_sha256 means (InvalidArgument: the batch is
// refused).
template <typename EnsureStaging>
absl::StatusOr<std::vector<std::pair<std::string, bool>>> CopyCertificates(
    pqxx::work& tx, const BatchCerts& certs, CrawlStore::KnownCerts& known,
    EnsureStaging&& ensure_staging) {
  struct Todo {
    std::string_view der;
    const BatchCert* cert;
  };
  const auto enough = [&](const BatchCert& c) {
    auto k = known.find(c.sha256);
    return k != known.end() && (k->second || c.summary == nullptr);
  };
  std::vector<Todo> todo;
  std::vector<std::string_view> ask;
  for (const auto& [sha, c] : certs.distinct) {
    if (enough(c)) continue;
    todo.push_back({c.der, &c});
    if (!known.contains(sha)) ask.push_back(sha);
  }
  for (auto& [sha, has_summary] : StoredCertificates(tx, ask)) known[sha] = has_summary;
  std::vector<Todo> fresh, merge;
  std::vector<std::pair<std::string, bool>> sent;
  for (const Todo& t : todo) {
    if (enough(*t.cert)) continue;
    if (!t.cert->hashed_here && Sha256(t.der) != t.cert->sha256) {
      return absl::InvalidArgumentError("a certificate came with a SHA-256 (" +
                                        HexEncode(t.cert->sha256) + ") that is not its DER's");
    }
    (known.contains(t.cert->sha256) ? merge : fresh).push_back(t);
    sent.emplace_back(t.cert->sha256, t.cert->summary != nullptr);
  }
  // In one order for every connection: two that store the same certificates wait for each
  // other instead of deadlocking.
  const auto by_sha = [](const Todo& a, const Todo& b) { return a.cert->sha256 < b.cert->sha256; };
  // The rows, in `buffer` (the view is into it).
  std::string buffer;
  const auto render = [&buffer](const std::vector<Todo>& list) {
    size_t bytes = 0;
    for (const Todo& t : list) bytes += t.der.size() + 512;
    BinaryCopyRows rows(buffer, bytes);
    for (const Todo& t : list) AddCertRow(rows, t.der, *t.cert);
    return rows.Finish();
  };
  if (!fresh.empty()) {
    std::sort(fresh.begin(), fresh.end(), by_sha);
    const std::string_view data = render(fresh);
    pqxx::subtransaction sp(tx, "ingest_certs");
    try {
      CopyBinary(sp, "certificate", kCertColumns, data);
      sp.commit();
    } catch (const pqxx::unique_violation&) {
      sp.abort();
      merge.insert(merge.end(), fresh.begin(), fresh.end());
    }
  }
  if (merge.empty()) return sent;
  std::sort(merge.begin(), merge.end(), by_sha);
  ensure_staging();
  CopyBinary(tx, "cert_staging", kCertColumns, render(merge));
  // A certificate first seen as an intermediate gets its summary when it shows up as a leaf.
  tx.exec(
      "INSERT INTO certificate (sha256, der, subject, issuer, sans, not_before, not_after, "
      "key_type, key_bits, sig_alg, self_signed) "
      "SELECT sha256, der, subject, issuer, coalesce(sans, '{}'), not_before, not_after, "
      "key_type, key_bits, sig_alg, self_signed FROM cert_staging "
      "ORDER BY sha256 "
      "ON CONFLICT (sha256) DO UPDATE SET subject = EXCLUDED.subject, issuer = EXCLUDED.issuer, "
      "sans = EXCLUDED.sans, not_before = EXCLUDED.not_before, not_after = EXCLUDED.not_after, "
      "key_type = EXCLUDED.key_type, key_bits = EXCLUDED.key_bits, sig_alg = EXCLUDED.sig_alg, "
      "self_signed = EXCLUDED.self_signed "
      "WHERE certificate.subject IS NULL AND EXCLUDED.subject IS NOT NULL");
  return sent;
}

// Every certificate a batch names by SHA-256 alone must be stored: a worker leaves a DER out
// only after a batch that carried it was acked, but a coordinator restarted on another database
// (or a bug) must not leave rows pointing at nothing. FAILED_PRECONDITION when one is missing
// (the caller has the worker send the batch again with its DER); stored ones not in `known`
// are added to it.
absl::Status CheckReferences(pqxx::work& tx, const BatchCerts& certs,
                             CrawlStore::KnownCerts& known) {
  std::vector<std::string_view> ask;
  for (std::string_view sha : certs.referenced) {
    if (sha.size() != 32) {
      return absl::InvalidArgumentError("a chain element without DER has a " +
                                        std::to_string(sha.size()) + "-byte SHA-256");
    }
    if (!known.contains(sha)) ask.push_back(sha);
  }
  const auto stored = StoredCertificates(tx, ask);
  std::set<std::string> missing;  // hex, so that the message names the same one every time
  for (std::string_view sha : ask) {
    auto it = stored.find(std::string(sha));
    if (it != stored.end()) {
      known[std::string(sha)] = it->second;
    } else {
      missing.insert(HexEncode(sha));
    }
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(std::to_string(missing.size()) +
                                       " certificate(s) named by SHA-256 alone are not stored (" +
                                       *missing.begin() + ")");
}

// A fast-path COPY is sent in pieces of about this size while the rest of the batch is rendered.
constexpr size_t kCopyPieceBytes = 128 << 10;

// A refusal of a probe result that is not the target it names.
absl::Status Refused(const CrawlStore::ProbeBatch& b, const ProbeResult& r,
                     const std::string& why) {
  const std::string what = r.ip + " port " + std::to_string(r.port) + " " + r.name;
  return absl::InvalidArgumentError(
      "worker '" + b.worker + "' sent a result for " +
      (r.target_id == 0 ? what + " without a target id (a standalone probe's result)"
                        : "target " + std::to_string(r.target_id) + " (" + what + ")") +
      " under its lease of crawl " + std::to_string(b.lease.crawl_id) + " shard " +
      std::to_string(b.lease.shard_id) + why + "; batch refused");
}

// Every probe result of a group must be the target it names: a target of its lease's shard,
// with that target's address, port and MX name. The target id is the key the row is stored
// under, so a wrong one would take another target's place (and that target would never be
// probed) or store a row no target has. Checked against the targets of the shards this
// coordinator leased (in memory), and for the rest against `target`, in one query per crawl.
absl::Status CheckTargets(pqxx::work& tx, const std::vector<CrawlStore::ProbeBatch>& batches,
                          const LeaseTargets& known) {
  struct Ask {
    size_t batch, row;
    IpAddress address;
  };
  std::map<int64_t, std::vector<Ask>> ask;  // by crawl
  std::vector<IpAddress> addresses;
  std::vector<LeaseTargets::Match> match;
  for (size_t i = 0; i < batches.size(); ++i) {
    const CrawlStore::ProbeBatch& b = batches[i];
    const std::vector<ProbeResult>& results = *b.results;
    if (results.empty()) continue;
    if (b.lease.kind != ShardKind::kProbe) {
      return Refused(b, results.front(), ", which is a lease of a resolve shard");
    }
    addresses.clear();
    for (const ProbeResult& r : results) {
      auto address = IpAddress::Parse(r.ip);
      if (!address) return NotAnAddress(r);
      if (r.target_id == 0) return Refused(b, r, "");
      if (r.target_id > static_cast<uint64_t>(INT64_MAX)) {
        return Refused(b, r, ", but the crawl has no such target");
      }
      addresses.push_back(*address);
    }
    std::string other;
    known.Compare(b.lease.crawl_id, b.lease.shard_id, results, addresses, match, &other);
    for (size_t k = 0; k < results.size(); ++k) {
      if (match[k] == LeaseTargets::Match::kDifferent) {
        return Refused(b, results[k],
                       ", but target " + std::to_string(results[k].target_id) + " is " + other);
      }
      if (match[k] == LeaseTargets::Match::kUnknown) {
        ask[b.lease.crawl_id].push_back({i, k, addresses[k]});
      }
    }
  }
  for (const auto& [crawl_id, asks] : ask) {
    std::string ids = "{";
    for (const Ask& a : asks) {
      ids += (ids.size() > 1 ? "," : "") +
             std::to_string((*batches[a.batch].results)[a.row].target_id);
    }
    struct Found {
      int shard_id;
      TargetRow target;
    };
    std::unordered_map<int64_t, Found> found;
    for (const auto& row : tx.exec_params(
             // One index scan for all: ~12,000 backend instructions per id (callgrind), a
             // fifth of it the planner's estimate element by element. A join with unnest
             // hashed the crawl's whole target table; a LATERAL lookup per id cost 37 % more.
             "SELECT target_id, coalesce(shard_id, -1), host(ip), port, mx_name FROM target "
             "WHERE crawl_id = $1 AND target_id = ANY($2::bigint[])",
             crawl_id, ids + "}")) {
      const int64_t id = row[0].as<int64_t>();
      found[id] = Found{row[1].as<int>(), TargetRow{id, row[2].as<std::string>(),
                                                    static_cast<uint16_t>(row[3].as<int>()),
                                                    row[4].as<std::string>()}};
    }
    for (const Ask& a : asks) {
      const CrawlStore::ProbeBatch& b = batches[a.batch];
      const ProbeResult& r = (*b.results)[a.row];
      const std::string id = std::to_string(r.target_id);
      auto it = found.find(static_cast<int64_t>(r.target_id));
      if (it == found.end()) {
        return Refused(b, r, ", but crawl " + std::to_string(crawl_id) + " has no target " + id);
      }
      const TargetRow& t = it->second.target;
      if (it->second.shard_id != b.lease.shard_id) {
        return Refused(
            b, r, ", but target " + id + " is in shard " + std::to_string(it->second.shard_id));
      }
      if (IpAddress::Parse(t.ip) != a.address || t.port != r.port || t.mx_name != r.name) {
        return Refused(b, r,
                       ", but target " + id + " is " + t.ip + " port " + std::to_string(t.port) +
                           " " + t.mx_name);
      }
    }
  }
  return absl::OkStatus();
}

// For each of `candidates` (batches of `crawl_id`), whether its first or its last target is
// stored already (two index probes each, all in one statement): then the batch is most likely a
// re-delivery, and trying the fast path first would only cost time.
std::vector<bool> EndsStored(pqxx::work& tx, const std::string& partition, int64_t crawl_id,
                             const std::vector<const std::vector<ProbeResult>*>& candidates) {
  std::vector<bool> out(candidates.size(), false);
  if (candidates.empty()) return out;
  std::string sql;
  std::vector<std::string> params = {std::to_string(crawl_id)};
  for (size_t i = 0; i < candidates.size(); ++i) {
    std::string col;
    for (const ProbeResult* r : {&candidates[i]->front(), &candidates[i]->back()}) {
      // Each lookup an equality on both primary-key columns: a form such as `target_id IN
      // (...)` could let the planner, without statistics on a partition being filled, scan
      // the index on crawl_id alone and filter, i.e. the whole partition for every batch.
      params.push_back(std::to_string(r->target_id));
      col += std::string(col.empty() ? "" : " OR ") + "EXISTS (SELECT 1 FROM " + partition +
             " WHERE crawl_id = $1 AND target_id = $" + std::to_string(params.size()) + "::bigint)";
    }
    sql += (sql.empty() ? "SELECT " : ", ") + col;
  }
  const auto row =
      tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params.begin(), params.end()))[0];
  for (size_t k = 0; k < candidates.size(); ++k) out[k] = row[static_cast<int>(k)].as<bool>();
  return out;
}

// Which of the targets of `batches[i]`, i in `which` (batches of `crawl_id`), have a row
// already: one statement, one index probe per target (OFFSET 0 keeps the subquery a per-row
// probe, whatever the planner thinks of a partition still being filled).
std::unordered_set<int64_t> StoredTargets(pqxx::work& tx, const std::string& partition,
                                          int64_t crawl_id,
                                          const std::vector<CrawlStore::ProbeBatch>& batches,
                                          const std::vector<size_t>& which) {
  std::string ids = "{";
  for (size_t i : which) {
    for (const auto& r : *batches[i].results) {
      if (ids.size() > 1) ids += ',';
      ids += std::to_string(r.target_id);
    }
  }
  ids += '}';
  std::unordered_set<int64_t> out;
  for (const auto& row : tx.exec_params("SELECT u.id FROM unnest($2::bigint[]) AS u(id) WHERE "
                                        "EXISTS (SELECT 1 FROM " +
                                            partition +
                                            " p WHERE p.crawl_id = $1 AND p.target_id = u.id "
                                            "OFFSET 0)",
                                        crawl_id, ids)) {
    out.insert(row[0].as<int64_t>());
  }
  return out;
}

// The shard keys of a set statement as array literals, one per column (for unnest).
struct ShardArrays {
  std::string crawls = "{", kinds = "{", shards = "{";
  void Add(int64_t crawl_id, ShardKind kind, int shard_id) {
    const char* sep = crawls.size() > 1 ? "," : "";
    crawls += sep + std::to_string(crawl_id);
    kinds += sep + std::string(ShardKindName(kind));
    shards += sep + std::to_string(shard_id);
  }
  std::string Crawls() const { return crawls + "}"; }
  std::string Kinds() const { return kinds + "}"; }
  std::string Shards() const { return shards + "}"; }
};

// Locks the shard rows of `leases` (each once, in one order: crawl, kind, shard) and tells for
// each lease whether it is still its shard's current lease.
std::vector<bool> LeasesAreCurrent(pqxx::work& tx, const std::vector<const LeaseRef*>& leases) {
  std::vector<bool> out(leases.size(), false);
  if (leases.empty()) return out;
  ShardArrays keys;
  for (const LeaseRef* l : leases) keys.Add(l->crawl_id, l->kind, l->shard_id);
  // ORDER BY under FOR UPDATE: the rows are locked as they leave the sort, i.e. in key order,
  // so two transactions that lock shards never wait for each other in a cycle.
  auto rows = tx.exec_params(
      "SELECT s.crawl_id, s.kind, s.shard_id, s.state = 'leased', s.lease_token FROM shard s "
      "JOIN (SELECT DISTINCT * FROM unnest($1::bigint[], $2::text[], $3::integer[])) "
      "AS k(crawl_id, kind, shard_id) USING (crawl_id, kind, shard_id) "
      "ORDER BY s.crawl_id, s.kind, s.shard_id FOR UPDATE OF s",
      keys.Crawls(), keys.Kinds(), keys.Shards());
  // (crawl, kind, shard) -> the shard's state is 'leased', its current token
  std::map<std::tuple<int64_t, std::string, int>, std::pair<bool, int64_t>> found;
  for (const auto& row : rows) {
    found[{row[0].as<int64_t>(), row[1].as<std::string>(), row[2].as<int>()}] = {
        row[3].as<bool>(), row[4].as<int64_t>()};
  }
  for (size_t i = 0; i < leases.size(); ++i) {
    const LeaseRef& l = *leases[i];
    auto it = found.find({l.crawl_id, ShardKindName(l.kind), l.shard_id});
    out[i] = it != found.end() && it->second.first && it->second.second == l.token;
  }
  return out;
}

bool LeaseIsCurrent(pqxx::work& tx, const LeaseRef& lease) {
  return LeasesAreCurrent(tx, {&lease}).front();
}

// On completion of a current lease: checks that nothing is missing (the shard is then done),
// else hands the shard back so that a new lease does the rest. Either way the shard leaves
// 'leased'. Returns whether it is done.
bool CloseShard(pqxx::work& tx, const LeaseRef& lease, const char* missing_sql) {
  const std::string kind = ShardKindName(lease.kind);
  const int64_t missing =
      tx.exec_params(missing_sql, lease.crawl_id, lease.shard_id)[0][0].as<int64_t>();
  if (missing == 0) {
    tx.exec_params(
        "UPDATE shard SET state = 'done', lease_owner = NULL, lease_until = NULL, "
        "updated_at = now() WHERE crawl_id = $1 AND kind = $2 AND shard_id = $3",
        lease.crawl_id, kind, lease.shard_id);
    return true;
  }
  tx.exec_params(
      "UPDATE shard SET state = 'pending', lease_owner = NULL, lease_until = NULL, "
      "last_error = $4 || ' items missing at completion', updated_at = now() "
      "WHERE crawl_id = $1 AND kind = $2 AND shard_id = $3",
      lease.crawl_id, kind, lease.shard_id, std::to_string(missing));
  return false;
}

// Records progress of a current lease; on completion closes the shard (CloseShard).
bool RecordProgress(pqxx::work& tx, const LeaseRef& lease, int64_t inserted, bool complete,
                    const char* missing_sql) {
  tx.exec_params(
      "UPDATE shard SET items_done = items_done + $4, updated_at = now() "
      "WHERE crawl_id = $1 AND kind = $2 AND shard_id = $3",
      lease.crawl_id, ShardKindName(lease.kind), lease.shard_id, inserted);
  return complete && CloseShard(tx, lease, missing_sql);
}

// Adds the items a group's current batches stored to their shards, one statement for all.
void AddProgress(pqxx::work& tx, const std::map<std::tuple<int64_t, int, int>, int64_t>& added) {
  if (added.empty()) return;
  ShardArrays keys;
  std::string counts = "{";
  for (const auto& [key, n] : added) {
    counts += (counts.size() > 1 ? "," : "") + std::to_string(n);
    keys.Add(std::get<0>(key), static_cast<ShardKind>(std::get<1>(key)), std::get<2>(key));
  }
  tx.exec_params(
      "UPDATE shard s SET items_done = s.items_done + v.n, updated_at = now() "
      "FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::bigint[]) "
      "AS v(crawl_id, kind, shard_id, n) "
      "WHERE s.crawl_id = v.crawl_id AND s.kind = v.kind AND s.shard_id = v.shard_id",
      keys.Crawls(), keys.Kinds(), keys.Shards(), counts + "}");
}

}  // namespace

absl::StatusOr<IngestResult> CrawlStore::IngestProbes(const LeaseRef& lease,
                                                      const std::vector<ProbeResult>& results,
                                                      bool shard_complete,
                                                      const std::string& worker) {
  auto r = IngestProbeBatches({ProbeBatch{lease, &results, shard_complete, worker}});
  if (!r.ok()) return r.status();
  return r->front();
}

absl::StatusOr<std::vector<IngestResult>> CrawlStore::IngestProbeBatches(
    const std::vector<ProbeBatch>& batches) {
  return Run<std::vector<IngestResult>>(
      "ingest probes", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<IngestResult>> {
        pqxx::work tx(c);
        // The temporary staging tables are created on first need: the fast path uses none, and a
        // transaction that touches no temporary table skips emptying them at commit.
        bool created = false;
        auto ensure_staging = [&] {
          if (!staging_ready_ && !created) {
            CreateStaging(tx);
            created = true;
          }
        };
        const size_t n = batches.size();
        std::vector<IngestResult> out(n);
        if (auto st = CheckTargets(tx, batches, *lease_targets_); !st.ok()) return st;
        {
          // Every shard of the group locked once, in one order, in one statement.
          std::vector<const LeaseRef*> leases;
          leases.reserve(n);
          for (const auto& b : batches) leases.push_back(&b.lease);
          const std::vector<bool> current = LeasesAreCurrent(tx, leases);
          for (size_t i = 0; i < n; ++i) out[i].lease_current = current[i];
        }
        const BatchCerts certs = CollectCertificates(batches);
        if (auto st = CheckReferences(tx, certs, known_certs_); !st.ok()) return st;
        const auto sent = CopyCertificates(tx, certs, known_certs_, ensure_staging);
        if (!sent.ok()) return sent.status();
        // Where each batch's chain digests start in certs.chain_sha256.
        std::vector<size_t> sha_start(n, 0);
        for (size_t i = 0, at = 0; i < n; ++i) {
          sha_start[i] = at;
          for (const auto& r : *batches[i].results) {
            if (r.tls) at += r.tls->chain_der.size();
          }
        }
        // Bounded: a buffer grown by one huge group is not kept.
        for (std::string* b : {&copy_buffer_, &merge_buffer_}) {
          if (b->capacity() > kCopyBufferKeepBytes) std::string().swap(*b);
        }
        std::vector<std::string_view> chain;
        auto render = [&](BinaryCopyRows& rows, size_t i, size_t& next_sha, const ProbeResult& r) {
          return AddProbeRow(rows, batches[i].lease.crawl_id, r, batches[i].worker, certs, next_sha,
                             chain);
        };
        // Fast path, the common case (no target of a batch stored yet): the batches of the
        // first batch's crawl go in one COPY straight into the crawl's partition, under a
        // savepoint. A batch whose first or last target is stored (most likely a batch sent
        // again) has each of its targets looked up first, and only its missing rows go into the
        // COPY. The primary key turns any row stored all the same (a target twice in the group,
        // one stored by another connection meanwhile, a re-delivery whose ends were new) into
        // a unique violation, which undoes the savepoint alone; those batches then take the
        // merge path, which skips what is stored, with the rows rendered for the fast path.
        std::vector<bool> copied(n, false);
        // Where each batch's rows are in copy_buffer_ once rendered for the fast path.
        std::vector<std::pair<size_t, size_t>> rendered(n, {0, 0});
        // Per batch looked up row by row: which of its results have a stored row.
        std::vector<std::vector<bool>> skip(n);
        // How many rows of each batch the fast path's COPY carries.
        std::vector<int64_t> copy_rows(n, 0);
        bool fast_failed = false;
        if (fast_path_ && n > 0) {
          const int64_t crawl_id = batches[0].lease.crawl_id;
          const std::string partition = "probe_c" + std::to_string(crawl_id);
          std::vector<size_t> candidates;
          std::vector<const std::vector<ProbeResult>*> candidate_results;
          for (size_t i = 0; i < n; ++i) {
            const auto& b = batches[i];
            if (b.lease.crawl_id != crawl_id || b.results->empty()) continue;
            candidates.push_back(i);
            candidate_results.push_back(b.results);
          }
          std::vector<size_t> fast;
          size_t fast_rows = 0;
          std::vector<size_t> looked_up;  // most likely re-deliveries
          const std::vector<bool> stored = EndsStored(tx, partition, crawl_id, candidate_results);
          for (size_t k = 0; k < candidates.size(); ++k) {
            if (stored[k]) {
              looked_up.push_back(candidates[k]);
            } else {
              const size_t i = candidates[k];
              fast.push_back(i);
              copy_rows[i] = static_cast<int64_t>(batches[i].results->size());
              fast_rows += batches[i].results->size();
            }
          }
          // A re-delivery (after a reconnect, or a stalled worker's late results) sends only
          // what is missing: staging whole batches to have the merge find every row stored was
          // the costliest thing a coordinator did, and a restarted one gets every worker's
          // unacked results at once.
          if (!looked_up.empty()) {
            const auto have = StoredTargets(tx, partition, crawl_id, batches, looked_up);
            for (size_t i : looked_up) {
              const auto& results = *batches[i].results;
              skip[i].resize(results.size());
              size_t left = 0;
              for (size_t j = 0; j < results.size(); ++j) {
                skip[i][j] = have.contains(static_cast<int64_t>(results[j].target_id));
                if (!skip[i][j]) ++left;
              }
              if (left == 0) {
                copied[i] = true;  // nothing to store
              } else {
                fast.push_back(i);
                copy_rows[i] = static_cast<int64_t>(left);
                fast_rows += left;
              }
            }
          }
          if (!fast.empty()) {
            BinaryCopyRows rows(copy_buffer_, fast_rows * 640);
            pqxx::subtransaction sp(tx, "ingest_fast");
            try {
              BinaryCopyIn copy(sp, partition, kProbeColumns);
              // Sent in pieces while the rest is rendered: the server works meanwhile.
              size_t flushed = 0;
              for (size_t i : fast) {
                size_t next_sha = sha_start[i];
                rendered[i].first = rows.size();
                const auto& results = *batches[i].results;
                for (size_t j = 0; j < results.size(); ++j) {
                  const ProbeResult& r = results[j];
                  if (!skip[i].empty() && skip[i][j]) {
                    if (r.tls) next_sha += r.tls->chain_der.size();
                    continue;
                  }
                  if (auto st = render(rows, i, next_sha, r); !st.ok()) return st;
                  if (rows.size() - flushed >= kCopyPieceBytes) {
                    copy.Send(rows.data().substr(flushed));
                    flushed = rows.size();
                  }
                }
                rendered[i].second = rows.size();
              }
              const std::string_view all = rows.Finish();
              copy.Send(all.substr(flushed));
              copy.End();
              sp.commit();
              for (size_t i : fast) {
                copied[i] = true;
                out[i].rows_inserted = copy_rows[i];
              }
            } catch (const pqxx::unique_violation&) {
              sp.abort();
              fast_failed = true;
            }
          }
        }
        // The merge, one batch at a time and in order, so that each one counts what it added.
        bool staged = false;
        for (size_t i = 0; i < n; ++i) {
          if (copied[i] || batches[i].results->empty()) continue;
          out[i].merged = true;
          ensure_staging();
          if (staged) tx.exec("DELETE FROM probe_staging");
          if (fast_failed && rendered[i].second > rendered[i].first) {
            // Rendered for the fast path already: the same bytes, framed on their own.
            const auto [from, to] = rendered[i];
            BinaryCopyIn copy(tx, "probe_staging", kProbeColumns);
            copy.Send(std::string_view(copy_buffer_).substr(0, BinaryCopyRows::kHeaderBytes));
            copy.Send(std::string_view(copy_buffer_).substr(from, to - from));
            copy.Send(BinaryCopyRows::kTrailer);
            copy.End();
          } else {
            BinaryCopyRows rows(merge_buffer_, batches[i].results->size() * 640);
            size_t next_sha = sha_start[i];
            for (const auto& r : *batches[i].results) {
              if (auto st = render(rows, i, next_sha, r); !st.ok()) return st;
            }
            CopyBinary(tx, "probe_staging", kProbeColumns, rows.Finish());
          }
          staged = true;
          // Set form, keyed by (crawl, target): a re-delivered row inserts nothing.
          const std::string cols = Joined(kProbeColumns);
          auto merged = tx.exec("INSERT INTO probe (" + cols + ") SELECT " + cols +
                                " FROM probe_staging ON CONFLICT DO NOTHING");
          out[i].rows_inserted = merged.affected_rows();
        }
        // Shards that a batch of this group completed: done, or handed back. A later batch of
        // the same shard sees that, as if it had come alone (its lease is no longer current).
        using ShardKey = std::tuple<int64_t, int, int>;
        auto key_of = [&](size_t i) {
          const LeaseRef& l = batches[i].lease;
          return ShardKey(l.crawl_id, static_cast<int>(l.kind), l.shard_id);
        };
        std::set<ShardKey> closed;
        std::map<ShardKey, int64_t> added;  // what the current batches stored, by shard
        for (size_t i = 0; i < n; ++i) {
          if (closed.contains(key_of(i))) out[i].lease_current = false;
          if (!out[i].lease_current) continue;
          added[key_of(i)] += out[i].rows_inserted;
          if (batches[i].shard_complete) closed.insert(key_of(i));
        }
        // Progress first, then the completions (which do not read items_done), in batch order.
        AddProgress(tx, added);
        for (size_t i = 0; i < n; ++i) {
          if (!out[i].lease_current || !batches[i].shard_complete) continue;
          out[i].shard_done =
              CloseShard(tx, batches[i].lease,
                         // OFFSET 0: a per-target index probe, never a scan of the
                         // partition (see the lease's query in crawl_store.cc).
                         "SELECT count(*) FROM target t WHERE t.crawl_id = $1 AND t.shard_id = $2 "
                         "AND NOT EXISTS (SELECT 1 FROM probe p WHERE p.crawl_id = t.crawl_id "
                         "AND p.target_id = t.target_id OFFSET 0)");
        }
        tx.commit();
        if (created) staging_ready_ = true;
        RememberCertificates(*sent);
        for (size_t i = 0; i < n; ++i) {
          if (out[i].shard_done) {
            lease_targets_->Forget(batches[i].lease.crawl_id, batches[i].lease.shard_id);
          }
        }
        return out;
      });
}

size_t CrawlStore::ShaHash::operator()(std::string_view sha) const {
  if (sha.size() < sizeof(size_t)) return std::hash<std::string_view>()(sha);
  size_t h;
  std::memcpy(&h, sha.data(), sizeof h);
  return h;
}

void CrawlStore::RememberCertificates(const std::vector<std::pair<std::string, bool>>& stored) {
  // Bounded: the coordinator's memory must not grow with the crawl. Forgetting only costs a
  // certificate sent again (ON CONFLICT makes that harmless).
  if (known_certs_.size() + stored.size() > kKnownCertsMax) known_certs_.clear();
  for (const auto& [sha, has_summary] : stored) {
    bool& v = known_certs_[sha];
    v = v || has_summary;
  }
}

namespace {

void CopyDomains(pqxx::work& tx, int64_t crawl_id, const std::vector<DomainResult>& results) {
  (void)crawl_id;
  {
    CopyWriter s(
        tx, "domain_staging",
        std::vector<std::string>{"domain", "status", "null_mx", "implicit_mx", "mta_sts", "tls_rpt",
                                 "spf", "dmarc", "dmarc_policy", "error", "resolved_at"});
    CopyRow row;
    for (const auto& d : results) {
      row.Clear();
      row.Add(d.domain).Add(DnsStatusName(d.status)).Add(d.null_mx).Add(d.implicit_mx);
      row.Add(d.policy.mta_sts).Add(d.policy.tls_rpt).Add(d.policy.spf).Add(d.policy.dmarc);
      row.Add(d.policy.dmarc_policy).Add(d.error).Add(FormatTimeMs(d.resolved_at_ms));
      row.WriteTo(s);
    }
    s.Complete();
  }
  CopyWriter s(tx, "mx_staging",
               std::vector<std::string>{"domain", "mx_name", "preference", "status", "ipv4", "ipv6",
                                        "cname", "tlsa", "tlsa_ad", "registrable_domain"});
  CopyRow row;
  // The provider of an MX name (its registrable domain), for the views (0003_views.sql).
  const auto psl = ProcessPublicSuffixList();
  for (const auto& d : results) {
    for (const auto& h : d.mx) {
      nlohmann::json tlsa = nlohmann::json::array();
      for (const auto& t : h.tlsa) {
        tlsa.push_back({{"usage", t.usage},
                        {"selector", t.selector},
                        {"matching_type", t.matching_type},
                        {"data", t.data_hex}});
      }
      row.Clear();
      row.Add(d.domain)
          .Add(h.name)
          .Add(static_cast<int>(h.preference))
          .Add(DnsStatusName(h.status));
      row.Add(TextArrayLiteral(h.ipv4)).Add(TextArrayLiteral(h.ipv6)).Add(h.cname);
      row.Add(tlsa.dump()).Add(h.tlsa_ad).Add(psl->RegistrableDomain(h.name));
      row.WriteTo(s);
    }
  }
  s.Complete();
}

// A refusal of a resolve batch that cannot be stored as it is.
absl::Status RefusedDomains(const LeaseRef& lease, const std::string& worker,
                            const std::string& why) {
  return absl::InvalidArgumentError(
      "worker '" + worker + "' sent a resolve batch under its lease of crawl " +
      std::to_string(lease.crawl_id) + " shard " + std::to_string(lease.shard_id) + ": " + why +
      "; batch refused");
}

bool IsAddress(int family, const std::string& ip) {
  unsigned char addr[16];
  return inet_pton(family, ip.c_str(), addr) == 1;
}

// What the database would refuse with a less telling message (an address that is not one, for
// the inet[] columns; a time outside timestamptz's range). Text it refuses (a NUL) comes back
// from the COPY as InvalidArgument (WithSqlErrors) and is refused the same way.
absl::Status CheckDomains(const LeaseRef& lease, const std::vector<DomainResult>& results,
                          const std::string& worker) {
  // Up to the end of year 9999: what any resolver's clock can say, inside timestamptz's range.
  constexpr int64_t kMaxTimeMs = 253402300799999;
  for (const auto& d : results) {
    if (d.domain.empty()) return RefusedDomains(lease, worker, "a result without a domain");
    for (const auto& h : d.mx) {
      for (const auto& ip : h.ipv4) {
        if (!IsAddress(AF_INET, ip)) {
          return RefusedDomains(
              lease, worker,
              "domain " + d.domain + ", MX " + h.name + ": '" + ip + "' is not an IPv4 address");
        }
      }
      for (const auto& ip : h.ipv6) {
        if (!IsAddress(AF_INET6, ip)) {
          return RefusedDomains(
              lease, worker,
              "domain " + d.domain + ", MX " + h.name + ": '" + ip + "' is not an IPv6 address");
        }
      }
    }
    if (d.resolved_at_ms < 0 || d.resolved_at_ms > kMaxTimeMs) {
      return RefusedDomains(lease, worker,
                            "domain " + d.domain + ": resolved_at " +
                                std::to_string(d.resolved_at_ms) + " ms is out of range");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<IngestResult> CrawlStore::IngestDomains(const LeaseRef& lease,
                                                       const std::vector<DomainResult>& results,
                                                       bool shard_complete,
                                                       const std::string& worker) {
  if (auto st = CheckDomains(lease, results, worker); !st.ok()) return st;
  return Run<
      IngestResult>("ingest domains", [&](pqxx::connection& c) -> absl::StatusOr<IngestResult> {
    pqxx::work tx(c);
    const bool created = !staging_ready_;
    if (created) CreateStaging(tx);
    IngestResult out;
    out.lease_current = LeaseIsCurrent(tx, lease);
    if (!results.empty()) {
      CopyDomains(tx, lease.crawl_id, results);
      // Each result must be one of its lease's shard's domains: one of another shard would
      // count as this shard's progress, one of no shard would be dropped unseen.
      const auto foreign = tx.exec_params(
          "SELECT s.domain FROM domain_staging s WHERE NOT EXISTS (SELECT 1 FROM crawl_domain d "
          "WHERE d.crawl_id = $1 AND d.domain = s.domain AND d.shard_id = $2) LIMIT 1",
          lease.crawl_id, lease.shard_id);
      if (!foreign.empty()) {
        return RefusedDomains(
            lease, worker,
            "domain " + foreign[0][0].as<std::string>() + " is not one of its shard's domains");
      }
      tx.exec_params(
          "INSERT INTO mx_host (crawl_id, mx_name, status, ipv4, ipv6, cname, tlsa, tlsa_ad, "
          "registrable_domain) "
          "SELECT DISTINCT ON (mx_name) $1, mx_name, status, ipv4, ipv6, cname, tlsa, tlsa_ad, "
          "registrable_domain "
          "FROM mx_staging ORDER BY mx_name ON CONFLICT DO NOTHING",
          lease.crawl_id);
      // First result wins: a domain already resolved (an earlier delivery) is left alone, and
      // so is its MX set.
      out.rows_inserted =
          tx.exec_params(
                "WITH upd AS (UPDATE crawl_domain d SET status = s.status, null_mx = s.null_mx, "
                "  implicit_mx = s.implicit_mx, mta_sts = s.mta_sts, tls_rpt = s.tls_rpt, "
                "  spf = s.spf, dmarc = s.dmarc, dmarc_policy = s.dmarc_policy, error = s.error, "
                "  resolved_at = s.resolved_at FROM domain_staging s "
                "  WHERE d.crawl_id = $1 AND d.domain = s.domain AND d.status IS NULL "
                "  RETURNING d.domain), "
                "ins AS (INSERT INTO domain_mx (crawl_id, domain, mx_name, preference) "
                "  SELECT DISTINCT ON (m.domain, m.mx_name) $1, m.domain, m.mx_name, m.preference "
                "  FROM mx_staging m JOIN upd ON upd.domain = m.domain "
                "  ORDER BY m.domain, m.mx_name, m.preference ON CONFLICT DO NOTHING) "
                "SELECT count(*) FROM upd",
                lease.crawl_id)[0][0]
              .as<int64_t>();
    }
    if (out.lease_current) {
      out.shard_done = RecordProgress(tx, lease, out.rows_inserted, shard_complete,
                                      "SELECT count(*) FROM crawl_domain WHERE crawl_id = $1 "
                                      "AND shard_id = $2 AND status IS NULL");
    }
    tx.commit();
    if (created) staging_ready_ = true;
    return out;
  });
}

}  // namespace mxcensus::storage
