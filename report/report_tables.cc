// The report's tables: which view each one reads and how it is laid out. Views carry one row
// per (crawl, unit, key); the queries pivot the units (domains, MX hosts, IPs) into columns so
// that one table compares them side by side.
#include "report/report_tables.h"

namespace mxcensus::report {
namespace {

struct Unit {
  const char* key;    // the view's unit value
  const char* title;  // the column heading
};
constexpr Unit kDomain{"domain", "domains"};
constexpr Unit kMxHost{"mx_host", "MX hosts"};
constexpr Unit kIp{"ip", "IPs"};

std::string UnitKey(const Unit& u) {
  return u.key == std::string("ip") ? "ips" : u.key + std::string("s");
}

// Adds a count and a percent column per unit to `t` and returns the matching SQL select list,
// pivoting `count_col` / `pct_col` of the view aliased `x`.
std::string PivotUnits(Table& t, const std::vector<Unit>& units, const std::string& count_col,
                       const std::string& pct_col, const std::string& agg = "max") {
  std::string sql;
  for (const Unit& u : units) {
    const std::string key = UnitKey(u);
    t.Add(key, u.title, ColumnKind::kInteger).Add(key + "_pct", "%", ColumnKind::kPercent);
    sql += ", " + agg + "(x." + count_col + ") FILTER (WHERE x.unit = '" + u.key + "')";
    sql += ", max(x." + pct_col + ") FILTER (WHERE x.unit = '" + u.key + "')";
  }
  return sql;
}

Table Shape(const char* id, const char* title, const char* note) {
  Table t;
  t.id = id;
  t.title = title;
  t.note = note;
  return t;
}

TableQuery Funnel() {
  Table t = Shape("funnel", "1. Funnel: from input domains to a completed TLS handshake",
                  "How many reached each step, and the share of the unit's first step. MX hosts "
                  "have no has_mx step; IPs are probed addresses, so they start at tcp_open.");
  t.Add("step", "step");
  const std::string pivot = PivotUnits(t, {kDomain, kMxHost, kIp}, "count", "pct_of_input");
  t.chart = {ChartKind::kBars, 0, {2}, "%", "domains, % of the input domains"};
  return {t, "SELECT s.step" + pivot +
                 " FROM mxcensus_funnel_step s LEFT JOIN v_funnel x"
                 " ON x.step_no = s.step_no AND x.crawl_id = :crawl"
                 " GROUP BY s.step_no, s.step ORDER BY s.step_no"};
}

TableQuery CertVerdicts() {
  Table t = Shape("cert_verdicts", "2. Certificate verdicts of completed handshakes",
                  "One primary verdict per item by fixed precedence (the best over its "
                  "addresses or MX hosts); shares of the items with a completed handshake.");
  t.Add("verdict", "verdict");
  const std::string pivot = PivotUnits(t, {kDomain, kMxHost, kIp}, "count", "pct");
  t.chart = {ChartKind::kBars, 0, {4}, "%", "MX hosts, % of those with a handshake"};
  return {t, "SELECT v.verdict" + pivot +
                 " FROM mxcensus_cert_verdict v LEFT JOIN v_cert_verdicts x"
                 " ON x.verdict = v.verdict AND x.crawl_id = :crawl"
                 " GROUP BY v.rank, v.verdict ORDER BY v.rank"};
}

TableQuery TlsNegotiated() {
  Table t = Shape("tls_negotiated", "3. Negotiated TLS: version x key exchange x cipher class",
                  "Completed handshakes; forward secrecy = ECDHE or DHE key exchange.");
  t.Add("tls_version", "version").Add("key_exchange", "key exchange");
  t.Add("cipher_class", "cipher").Add("forward_secrecy", "FS");
  const std::string pivot = PivotUnits(t, {kMxHost, kIp}, "count", "pct", "sum");
  return {t,
          "SELECT x.tls_version, x.key_exchange, x.cipher_class,"
          " CASE WHEN x.forward_secrecy THEN 'yes' ELSE 'no' END" +
              pivot +
              " FROM v_tls_negotiated x WHERE x.crawl_id = :crawl GROUP BY 1, 2, 3, 4"
              " ORDER BY coalesce(sum(x.count) FILTER (WHERE x.unit = 'ip'), 0) DESC, 1, 2, 3"};
}

TableQuery TlsSummary() {
  Table t = Shape("tls_summary", "3b. Forward secrecy and TLS versions",
                  "Completed handshakes per unit; legacy = TLS 1.1, 1.0 or SSLv3.");
  t.Add("unit", "unit").Add("handshakes", "handshakes", ColumnKind::kInteger);
  t.Add("forward_secrecy", "FS", ColumnKind::kInteger);
  t.Add("forward_secrecy_pct", "% FS", ColumnKind::kPercent);
  t.Add("tls13", "TLS 1.3", ColumnKind::kInteger).Add("tls12", "TLS 1.2", ColumnKind::kInteger);
  t.Add("tls_legacy", "legacy", ColumnKind::kInteger);
  t.Add("tls13_pct", "% TLS 1.3", ColumnKind::kPercent);
  return {t,
          "SELECT u.unit, x.handshakes, x.forward_secrecy, x.pct_forward_secrecy, x.tls13,"
          " x.tls12, x.tls_legacy, x.pct_tls13 FROM mxcensus_unit u LEFT JOIN v_tls_summary x"
          " ON x.unit = u.unit AND x.crawl_id = :crawl WHERE u.unit <> 'domain'"
          " ORDER BY u.unit_no"};
}

TableQuery DhSizes() {
  Table t = Shape("dh_sizes", "4. DH group sizes of DHE handshakes (Logjam)",
                  "Groups of 1024 bits or less are within reach of the Logjam precomputation.");
  t.Add("bucket", "DH bits").Add("logjam", "logjam");
  const std::string pivot = PivotUnits(t, {kMxHost, kIp}, "count", "pct");
  return {t, "SELECT b.bucket, CASE WHEN b.logjam THEN 'yes' ELSE 'no' END" + pivot +
                 " FROM mxcensus_dh_bucket b LEFT JOIN v_dh_sizes x"
                 " ON x.bucket_no = b.bucket_no AND x.crawl_id = :crawl"
                 " GROUP BY b.bucket_no, b.bucket, b.logjam ORDER BY b.bucket_no"};
}

TableQuery EcdheGroups() {
  Table t = Shape("ecdhe_groups", "4b. ECDHE groups", "Groups of the ECDHE handshakes.");
  t.Add("tls_group", "group");
  const std::string pivot = PivotUnits(t, {kMxHost, kIp}, "count", "pct", "sum");
  return {t, "SELECT x.tls_group" + pivot +
                 " FROM v_ecdhe_groups x WHERE x.crawl_id = :crawl GROUP BY 1"
                 " ORDER BY coalesce(sum(x.count) FILTER (WHERE x.unit = 'ip'), 0) DESC, 1"};
}

TableQuery Failures() {
  Table t = Shape("starttls_failures", "5. Why hosts that offer STARTTLS fail",
                  "Hosts that offer STARTTLS but complete no handshake, by failure class.");
  t.Add("failure_class", "class");
  const std::string pivot = PivotUnits(t, {kMxHost, kIp}, "count", "pct");
  return {t, "SELECT f.class" + pivot +
                 " FROM mxcensus_failure_class f LEFT JOIN v_starttls_failures x"
                 " ON x.class_no = f.class_no AND x.crawl_id = :crawl"
                 " GROUP BY f.class_no, f.class ORDER BY f.class_no"};
}

TableQuery Tampering() {
  Table t = Shape("tampering", "6. Tampering per network: masked STARTTLS and injection",
                  "Networks (/24, /48) with an address whose STARTTLS was masked in the EHLO "
                  "reply or that sent bytes after the 220 to STARTTLS. No AS data is collected.");
  t.Add("network", "network").Add("ips_probed", "IPs probed", ColumnKind::kInteger);
  t.Add("stripped", "masked", ColumnKind::kInteger);
  t.Add("injected", "injected", ColumnKind::kInteger);
  t.Add("stripped_pct", "% masked", ColumnKind::kPercent);
  t.Add("injected_pct", "% injected", ColumnKind::kPercent);
  t.Add("sample_mx_name", "sample MX");
  return {t,
          "SELECT network::text, ips_probed, stripped, injected, pct_stripped, pct_injected,"
          " sample_mx_name FROM v_tampering WHERE crawl_id = :crawl"
          " ORDER BY stripped + injected DESC, network LIMIT :limit"};
}

TableQuery Providers() {
  Table t = Shape("providers", "7. Providers: MX registrable domain",
                  "Domains by the registrable domain (Public Suffix List) of their primary MX, "
                  "their STARTTLS and certificate shares, and the provider's own MX hosts.");
  t.Add("provider", "provider").Add("domains", "domains", ColumnKind::kInteger);
  t.Add("domains_pct", "%", ColumnKind::kPercent);
  t.Add("domains_starttls_pct", "% STARTTLS", ColumnKind::kPercent);
  t.Add("domains_valid_cert_pct", "% valid", ColumnKind::kPercent);
  t.Add("mx_hosts", "MX hosts", ColumnKind::kInteger);
  t.Add("mx_hosts_starttls", "STARTTLS", ColumnKind::kInteger);
  t.Add("mx_hosts_valid", "valid", ColumnKind::kInteger);
  t.Add("mx_hosts_name_mismatch", "mismatch", ColumnKind::kInteger);
  t.Add("mx_hosts_self_signed", "self-signed", ColumnKind::kInteger);
  t.Add("mx_hosts_untrusted_chain", "untrusted", ColumnKind::kInteger);
  t.Add("mx_hosts_expired", "expired", ColumnKind::kInteger);
  return {t,
          "SELECT provider, domains, pct_domains, pct_domains_starttls, pct_domains_valid_cert,"
          " mx_hosts, mx_hosts_starttls, mx_hosts_valid, mx_hosts_name_mismatch,"
          " mx_hosts_self_signed, mx_hosts_untrusted_chain, mx_hosts_expired"
          " FROM v_providers WHERE crawl_id = :crawl ORDER BY domains DESC, provider"
          " LIMIT :limit"};
}

TableQuery Software() {
  Table t = Shape("mta_software", "8. MTA software (from greeting and EHLO)",
                  "Share of MX hosts and IPs per software, and how many of them offer STARTTLS.");
  t.Add("software", "software");
  std::string pivot;
  for (const Unit& u : {kMxHost, kIp}) {
    const std::string key = UnitKey(u);
    t.Add(key, u.title, ColumnKind::kInteger).Add(key + "_pct", "%", ColumnKind::kPercent);
    t.Add(key + "_starttls_offered_pct", "% offer", ColumnKind::kPercent);
    const std::string f = " FILTER (WHERE x.unit = '" + std::string(u.key) + "')";
    pivot += ", sum(x.count)" + f + ", max(x.pct)" + f + ", max(x.pct_starttls_offered)" + f;
  }
  return {t, "SELECT x.software" + pivot +
                 " FROM v_mta_software x WHERE x.crawl_id = :crawl GROUP BY 1"
                 " ORDER BY coalesce(sum(x.count) FILTER (WHERE x.unit = 'ip'), 0) DESC, 1"};
}

TableQuery Policy() {
  Table t = Shape("policy", "9. Policy layer per domain",
                  "Domains publishing each record, of the domains that resolved. DANE: any MX "
                  "host has TLSA records (ad: answered with the AD bit).");
  t.Add("record", "record").Add("domains", "domains", ColumnKind::kInteger);
  t.Add("domains_pct", "%", ColumnKind::kPercent);
  t.Add("domains_resolved", "of", ColumnKind::kInteger);
  t.chart = {ChartKind::kBars, 0, {2}, "%", "% of the domains that resolved"};
  return {t,
          "SELECT record, domains, pct, domains_resolved FROM v_policy"
          " WHERE crawl_id = :crawl ORDER BY record_no"};
}

TableQuery Series() {
  Table t = Shape("series", "10. Longitudinal series: one row per crawl",
                  "Finished crawls (and this one). Domain shares are of the domains with MX.");
  t.Add("crawl_id", "crawl", ColumnKind::kInteger).Add("name", "name").Add("time", "started");
  t.Add("domains", "domains", ColumnKind::kInteger);
  t.Add("domains_starttls_pct", "% STARTTLS", ColumnKind::kPercent);
  t.Add("domains_all_mx_starttls_pct", "% all MX", ColumnKind::kPercent);
  t.Add("domains_valid_cert_pct", "% valid", ColumnKind::kPercent);
  t.Add("ips_starttls_pct", "% IPs", ColumnKind::kPercent);
  t.Add("tls13_pct", "% TLS 1.3", ColumnKind::kPercent);
  t.Add("forward_secrecy_pct", "% FS", ColumnKind::kPercent);
  t.Add("mta_sts_pct", "% MTA-STS", ColumnKind::kPercent);
  t.Add("dane_tlsa_pct", "% DANE", ColumnKind::kPercent);
  t.chart = {ChartKind::kLines, 0, {4, 6, 9, 10}, "%", "shares per crawl (x: crawl id)"};
  return {t,
          "SELECT crawl_id, name, to_char(\"time\" AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'),"
          " domains, pct_domains_starttls, pct_domains_all_mx_starttls, pct_domains_valid_cert,"
          " pct_ips_starttls, pct_tls13, pct_forward_secrecy, pct_mta_sts, pct_dane_tlsa"
          " FROM v_crawl_series WHERE state = 'finished' OR crawl_id = :crawl"
          " ORDER BY crawl_id"};
}

// Both tables come from one evaluation of mxcensus_changes, the report's most expensive call.
TableQuery Changes() {
  Table t = Shape("changes", "11. Changes since the compared crawl",
                  "Domains and MX hosts present in both crawls that gained or lost STARTTLS, a "
                  "valid certificate or a policy record.");
  t.Add("unit", "unit").Add("attribute", "attribute");
  t.Add("gained", "gained", ColumnKind::kInteger).Add("lost", "lost", ColumnKind::kInteger);
  t.Add("net", "net", ColumnKind::kInteger);
  Table items = Shape("changed_items", "11b. What changed, item by item",
                      "Losses first; the provider is the one in this crawl.");
  items.Add("change", "change").Add("unit", "unit").Add("attribute", "attribute");
  items.Add("name", "name").Add("provider", "provider");
  return {
      t,
      "WITH c AS MATERIALIZED ("
      "  SELECT change, unit, attribute, name, provider"
      "  FROM mxcensus_changes(:compare, :crawl)),"
      " s AS (SELECT unit, attribute, count(*) FILTER (WHERE change = 'gained') AS gained,"
      "         count(*) FILTER (WHERE change = 'lost') AS lost FROM c GROUP BY 1, 2),"
      " i AS (SELECT *, row_number() OVER (ORDER BY change DESC, unit, attribute, name) AS ord"
      "       FROM c ORDER BY ord LIMIT :limit)"
      " SELECT part, c1, c2, c3, c4, c5 FROM ("
      "  SELECT 0 AS part, unit AS c1, attribute AS c2, gained::text AS c3, lost::text AS c4,"
      "         (gained - lost)::text AS c5, row_number() OVER (ORDER BY unit, attribute) AS ord"
      "  FROM s"
      "  UNION ALL SELECT 1, change, unit, attribute, name, provider, ord FROM i) u"
      " ORDER BY part, ord",
      QueryNeeds::kCompare, items};
}

TableQuery NoStarttls() {
  Table t = Shape("no_starttls", "12. Who, why, where: addresses without a completed handshake",
                  "Grouped by provider, network, software and reason, largest first, with the "
                  "domains behind them and a sample greeting.");
  t.Add("provider", "provider").Add("network", "network").Add("software", "software");
  t.Add("reason", "reason").Add("domains", "domains", ColumnKind::kInteger);
  t.Add("mx_hosts", "MX hosts", ColumnKind::kInteger).Add("ips", "IPs", ColumnKind::kInteger);
  t.Add("sample_mx_name", "sample MX").Add("sample_greeting", "sample greeting");
  return {t,
          "SELECT provider, network::text, software, reason, domains, mx_hosts, ips,"
          " sample_mx_name, sample_greeting FROM v_no_starttls WHERE crawl_id = :crawl"
          " ORDER BY domains DESC, ips DESC, provider, network, software, reason LIMIT :limit"};
}

}  // namespace

std::vector<TableQuery> ReportTableQueries() {
  return {Funnel(),      CertVerdicts(), TlsNegotiated(), TlsSummary(), DhSizes(),
          EcdheGroups(), Failures(),     Tampering(),     Providers(),  Software(),
          Policy(),      Series(),       Changes(),       NoStarttls()};
}

}  // namespace mxcensus::report
