#include "advise/crawl_facts.h"

#include <map>

#include "absl/strings/str_split.h"
#include "storage/db.h"

namespace mxcensus::advise {
namespace {

// A text[] literal for ANY($n). Domain names hold no quotes or commas, but quote each element
// anyway.
std::string ArrayLiteral(const std::vector<std::string>& v) {
  std::string out = "{";
  for (const auto& s : v) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::vector<std::string> Lines(const pqxx::field& f) {
  if (f.is_null() || f.as<std::string>().empty()) return {};
  return absl::StrSplit(f.as<std::string>(), '\n');
}

std::optional<bool> OptBool(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<bool>();
}

constexpr const char* kProbeSql = R"(
SELECT p.mx_name, host(p.ip), p.port, p.outcome::text, p.stage::text, coalesce(p.error, ''),
       coalesce(p.banner, ''), array_to_string(p.ehlo, E'\n'), coalesce(p.code_banner, 0),
       coalesce(p.code_starttls, 0), p.pipelined_after_starttls,
       coalesce(p.tls_handshake_complete, false), coalesce(p.tls_version, ''),
       coalesce(p.tls_cipher, ''), coalesce(p.tls_group, ''), coalesce(p.tls_alert, ''),
       coalesce(p.dh_bits, 0), p.chain_valid, p.name_match, coalesce(p.verify_error, ''),
       coalesce(c.subject, ''), coalesce(c.issuer, ''),
       coalesce(to_char(c.not_before AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), ''),
       coalesce(to_char(c.not_after AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), ''),
       array_to_string(c.sans, E'\n'),
       coalesce(mxcensus_cert_verdict(p.chain_valid, p.name_match, p.verify_error, c.self_signed,
                                      c.key_type, c.key_bits, c.sig_alg), ''),
       mxcensus_mta_software(p.banner, p.ehlo)
FROM probe p LEFT JOIN certificate c ON c.sha256 = p.leaf_sha256
WHERE p.crawl_id = $1 AND ($3 OR p.mx_name IN (
        SELECT mx_name FROM domain_mx WHERE crawl_id = $1 AND domain = ANY($2::text[])))
ORDER BY p.mx_name, p.ip)";

HostFacts HostFromRow(const pqxx::row& r) {
  HostFacts h;
  h.ip = r[1].as<std::string>();
  h.port = r[2].as<int>();
  h.outcome = r[3].as<std::string>();
  h.stage = r[4].as<std::string>();
  h.error = r[5].as<std::string>();
  h.banner = r[6].as<std::string>();
  h.ehlo = Lines(r[7]);
  h.code_banner = r[8].as<int>();
  h.code_starttls = r[9].as<int>();
  h.pipelined_after_starttls = r[10].as<bool>();
  h.handshake_complete = r[11].as<bool>();
  h.tls_version = r[12].as<std::string>();
  h.tls_cipher = r[13].as<std::string>();
  h.tls_group = r[14].as<std::string>();
  h.tls_alert = r[15].as<std::string>();
  h.dh_bits = r[16].as<int>();
  h.chain_valid = OptBool(r[17]);
  h.name_match = OptBool(r[18]);
  h.verify_error = r[19].as<std::string>();
  h.subject = r[20].as<std::string>();
  h.issuer = r[21].as<std::string>();
  h.not_before = r[22].as<std::string>();
  h.not_after = r[23].as<std::string>();
  h.sans = Lines(r[24]);
  h.cert_verdict = r[25].as<std::string>();
  h.mta_software = r[26].as<std::string>();
  return h;
}

}  // namespace

absl::StatusOr<int64_t> LatestFinishedCrawl(pqxx::connection& conn) {
  return storage::WithSqlErrors("latest crawl", [&]() -> absl::StatusOr<int64_t> {
    pqxx::work tx(conn);
    auto r = tx.exec(
        "SELECT crawl_id FROM crawl WHERE state = 'finished' ORDER BY crawl_id DESC LIMIT 1");
    if (r.empty()) return absl::NotFoundError("the database holds no finished crawl");
    return r[0][0].as<int64_t>();
  });
}

absl::StatusOr<std::vector<DomainFacts>> LoadDomainFacts(pqxx::connection& conn, int64_t crawl_id,
                                                         const std::vector<std::string>& domains) {
  using Result = std::vector<DomainFacts>;
  return storage::WithSqlErrors("load crawl facts", [&]() -> absl::StatusOr<Result> {
    pqxx::work tx(conn);
    const std::string filter = ArrayLiteral(domains);
    const bool all = domains.empty();
    if (tx.exec_params("SELECT 1 FROM crawl WHERE crawl_id = $1", crawl_id).empty()) {
      return absl::NotFoundError("--crawl: no crawl " + std::to_string(crawl_id));
    }
    std::map<std::string, std::vector<HostFacts>> hosts;  // by MX name
    for (const auto& r : tx.exec_params(kProbeSql, crawl_id, filter, all)) {
      hosts[r[0].as<std::string>()].push_back(HostFromRow(r));
    }
    std::map<std::string, std::vector<MxFacts>> mx;  // by domain
    for (const auto& r :
         tx.exec_params("SELECT m.domain, m.mx_name, m.preference, h.status::text FROM domain_mx m "
                        "JOIN mx_host h ON h.crawl_id = m.crawl_id AND h.mx_name = m.mx_name "
                        "WHERE m.crawl_id = $1 AND ($3 OR m.domain = ANY($2::text[])) "
                        "ORDER BY m.domain, m.preference, m.mx_name",
                        crawl_id, filter, all)) {
      MxFacts m{r[1].as<std::string>(), r[2].as<int>(), r[3].as<std::string>(), {}};
      if (auto it = hosts.find(m.name); it != hosts.end()) m.hosts = it->second;
      mx[r[0].as<std::string>()].push_back(std::move(m));
    }
    Result out;
    for (const auto& r : tx.exec_params(
             "SELECT domain, coalesce(status::text, 'invalid'), coalesce(null_mx, false), "
             "coalesce(implicit_mx, false), coalesce(mta_sts, ''), coalesce(tls_rpt, '') "
             "FROM crawl_domain WHERE crawl_id = $1 "
             "AND ($3 OR domain = ANY($2::text[])) ORDER BY domain",
             crawl_id, filter, all)) {
      DomainFacts d;
      d.domain = r[0].as<std::string>();
      d.status = r[1].as<std::string>();
      d.null_mx = r[2].as<bool>();
      d.implicit_mx = r[3].as<bool>();
      d.mta_sts = r[4].as<std::string>();
      d.tls_rpt = r[5].as<std::string>();
      if (auto it = mx.find(d.domain); it != mx.end()) d.mx = std::move(it->second);
      out.push_back(std::move(d));
    }
    return out;
  });
}

}  // namespace mxcensus::advise
