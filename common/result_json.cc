#include "common/result_json.h"

#include <ctime>
#include <stdexcept>

#include "absl/status/status.h"

namespace mxcensus {
namespace {

using nlohmann::json;

template <typename T>
json Opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

template <typename T>
std::optional<T> GetOpt(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return it->get<T>();
}

json CertToJson(const CertSummary& c) {
  return json{{"sha256", c.sha256_hex},         {"subject", c.subject},
              {"issuer", c.issuer},             {"sans", c.sans},
              {"not_before", FormatTimeS(c.not_before)},
              {"not_after", FormatTimeS(c.not_after)},
              {"key_type", c.key_type},         {"key_bits", c.key_bits},
              {"sig_alg", c.sig_alg},           {"self_signed", c.self_signed}};
}

CertSummary CertFromJson(const json& j) {
  CertSummary c;
  c.sha256_hex = j.value("sha256", "");
  c.subject = j.value("subject", "");
  c.issuer = j.value("issuer", "");
  c.sans = j.value("sans", std::vector<std::string>{});
  auto nb = ParseTimeMs(j.value("not_before", ""));
  auto na = ParseTimeMs(j.value("not_after", ""));
  c.not_before = nb.ok() ? *nb / 1000 : 0;
  c.not_after = na.ok() ? *na / 1000 : 0;
  c.key_type = j.value("key_type", "");
  c.key_bits = j.value("key_bits", 0);
  c.sig_alg = j.value("sig_alg", "");
  c.self_signed = j.value("self_signed", false);
  return c;
}

json TlsToJson(const TlsFacts& t) {
  json chain = json::array();
  for (const auto& der : t.chain_der) chain.push_back(Base64Encode(der));
  return json{{"version", t.version.empty() ? json(nullptr) : json(t.version)},
              {"cipher", t.cipher.empty() ? json(nullptr) : json(t.cipher)},
              {"group", t.group.empty() ? json(nullptr) : json(t.group)},
              {"dh_bits", Opt(t.dh_bits)},
              {"chain", chain},
              {"leaf", t.leaf ? CertToJson(*t.leaf) : json(nullptr)},
              {"chain_valid", t.chain_valid},
              {"verify_error", Opt(t.verify_error)},
              {"name_match", t.name_match},
              {"alert", Opt(t.alert)},
              {"handshake_complete", t.handshake_complete}};
}

absl::StatusOr<TlsFacts> TlsFromJson(const json& j) {
  TlsFacts t;
  t.version = GetOpt<std::string>(j, "version").value_or("");
  t.cipher = GetOpt<std::string>(j, "cipher").value_or("");
  t.group = GetOpt<std::string>(j, "group").value_or("");
  t.dh_bits = GetOpt<int>(j, "dh_bits");
  for (const auto& b64 : j.value("chain", std::vector<std::string>{})) {
    auto der = Base64Decode(b64);
    if (!der.ok()) return der.status();
    t.chain_der.push_back(*std::move(der));
  }
  if (auto it = j.find("leaf"); it != j.end() && it->is_object()) t.leaf = CertFromJson(*it);
  t.chain_valid = j.value("chain_valid", false);
  t.verify_error = GetOpt<std::string>(j, "verify_error");
  t.name_match = j.value("name_match", false);
  t.alert = GetOpt<std::string>(j, "alert");
  t.handshake_complete = j.value("handshake_complete", false);
  return t;
}

}  // namespace

json ProbeResultToJson(const ProbeResult& r) {
  json codes = json::object();
  auto put_code = [&](const char* k, const std::optional<int>& v) {
    if (v) codes[k] = *v;
  };
  put_code("banner", r.codes.banner);
  put_code("ehlo", r.codes.ehlo);
  put_code("helo", r.codes.helo);
  put_code("starttls", r.codes.starttls);
  put_code("ehlo_tls", r.codes.ehlo_tls);
  put_code("quit", r.codes.quit);
  json timing = json::object();
  auto put_t = [&](const char* k, const std::optional<double>& v) {
    if (v) timing[k] = *v;
  };
  put_t("connect", r.timing_ms.connect);
  put_t("banner", r.timing_ms.banner);
  put_t("ehlo", r.timing_ms.ehlo);
  put_t("starttls", r.timing_ms.starttls);
  put_t("tls", r.timing_ms.tls);
  put_t("ehlo_tls", r.timing_ms.ehlo_tls);
  put_t("quit", r.timing_ms.quit);
  timing["total"] = r.timing_ms.total;
  return json{{"ip", r.ip},
              {"port", r.port},
              {"name", r.name},
              {"tag", r.tag},
              {"outcome", OutcomeName(r.outcome)},
              {"stage", StageName(r.stage)},
              {"error", Opt(r.error)},
              {"banner", r.banner},
              {"ehlo", r.ehlo},
              {"ehlo_tls", r.ehlo_tls},
              {"helo_fallback", r.helo_fallback},
              {"pipelined_after_starttls", r.pipelined_after_starttls},
              {"codes", codes},
              {"tls", r.tls ? TlsToJson(*r.tls) : json(nullptr)},
              {"timing_ms", timing},
              {"started_at", FormatTimeMs(r.started_at_ms)}};
}

absl::StatusOr<ProbeResult> ProbeResultFromJson(const json& j) {
  try {
    ProbeResult r;
    r.ip = j.at("ip").get<std::string>();
    r.port = j.value("port", 25);
    r.name = j.value("name", "");
    r.tag = j.value("tag", "");
    auto outcome = ParseOutcome(j.at("outcome").get<std::string>());
    if (!outcome) return absl::InvalidArgumentError("unknown outcome");
    r.outcome = *outcome;
    auto stage = ParseStage(j.value("stage", "connect"));
    if (!stage) return absl::InvalidArgumentError("unknown stage");
    r.stage = *stage;
    r.error = GetOpt<std::string>(j, "error");
    r.banner = j.value("banner", "");
    r.ehlo = j.value("ehlo", std::vector<std::string>{});
    r.ehlo_tls = j.value("ehlo_tls", std::vector<std::string>{});
    r.helo_fallback = j.value("helo_fallback", false);
    r.pipelined_after_starttls = j.value("pipelined_after_starttls", false);
    if (auto it = j.find("codes"); it != j.end() && it->is_object()) {
      r.codes.banner = GetOpt<int>(*it, "banner");
      r.codes.ehlo = GetOpt<int>(*it, "ehlo");
      r.codes.helo = GetOpt<int>(*it, "helo");
      r.codes.starttls = GetOpt<int>(*it, "starttls");
      r.codes.ehlo_tls = GetOpt<int>(*it, "ehlo_tls");
      r.codes.quit = GetOpt<int>(*it, "quit");
    }
    if (auto it = j.find("tls"); it != j.end() && it->is_object()) {
      auto tls = TlsFromJson(*it);
      if (!tls.ok()) return tls.status();
      r.tls = *std::move(tls);
    }
    if (auto it = j.find("timing_ms"); it != j.end() && it->is_object()) {
      r.timing_ms.connect = GetOpt<double>(*it, "connect");
      r.timing_ms.banner = GetOpt<double>(*it, "banner");
      r.timing_ms.ehlo = GetOpt<double>(*it, "ehlo");
      r.timing_ms.starttls = GetOpt<double>(*it, "starttls");
      r.timing_ms.tls = GetOpt<double>(*it, "tls");
      r.timing_ms.ehlo_tls = GetOpt<double>(*it, "ehlo_tls");
      r.timing_ms.quit = GetOpt<double>(*it, "quit");
      r.timing_ms.total = it->value("total", 0.0);
    }
    if (auto t = GetOpt<std::string>(j, "started_at")) {
      auto ms = ParseTimeMs(*t);
      if (!ms.ok()) return ms.status();
      r.started_at_ms = *ms;
    }
    return r;
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(std::string("probe result JSON: ") + e.what());
  }
}

json DomainResultToJson(const DomainResult& r) {
  json mx = json::array();
  for (const auto& h : r.mx) {
    json tlsa = json::array();
    for (const auto& t : h.tlsa) {
      tlsa.push_back(json{{"usage", t.usage},
                          {"selector", t.selector},
                          {"matching_type", t.matching_type},
                          {"data", t.data_hex}});
    }
    mx.push_back(json{{"name", h.name},
                      {"preference", h.preference},
                      {"ipv4", h.ipv4},
                      {"ipv6", h.ipv6},
                      {"cname", Opt(h.cname)},
                      {"status", DnsStatusName(h.status)},
                      {"tlsa", tlsa},
                      {"tlsa_ad", h.tlsa_ad}});
  }
  return json{{"domain", r.domain},
              {"status", DnsStatusName(r.status)},
              {"mx", mx},
              {"null_mx", r.null_mx},
              {"implicit_mx", r.implicit_mx},
              {"policy",
               {{"mta_sts", Opt(r.policy.mta_sts)},
                {"tls_rpt", Opt(r.policy.tls_rpt)},
                {"spf", Opt(r.policy.spf)},
                {"dmarc", Opt(r.policy.dmarc)},
                {"dmarc_policy", Opt(r.policy.dmarc_policy)}}},
              {"error", Opt(r.error)},
              {"rank", r.rank == 0 ? json(nullptr) : json(r.rank)},
              {"resolved_at", FormatTimeMs(r.resolved_at_ms)}};
}

absl::StatusOr<DomainResult> DomainResultFromJson(const json& j) {
  try {
    DomainResult r;
    r.domain = j.at("domain").get<std::string>();
    auto st = ParseDnsStatus(j.at("status").get<std::string>());
    if (!st) return absl::InvalidArgumentError("unknown DNS status");
    r.status = *st;
    for (const auto& m : j.value("mx", json::array())) {
      MxHost h;
      h.name = m.at("name").get<std::string>();
      h.preference = m.value("preference", 0);
      h.ipv4 = m.value("ipv4", std::vector<std::string>{});
      h.ipv6 = m.value("ipv6", std::vector<std::string>{});
      h.cname = GetOpt<std::string>(m, "cname");
      auto hs = ParseDnsStatus(m.value("status", "ok"));
      h.status = hs.value_or(DnsStatus::kInvalid);
      for (const auto& t : m.value("tlsa", json::array())) {
        h.tlsa.push_back(TlsaRecord{t.value("usage", uint8_t{0}), t.value("selector", uint8_t{0}),
                                    t.value("matching_type", uint8_t{0}), t.value("data", "")});
      }
      h.tlsa_ad = m.value("tlsa_ad", false);
      r.mx.push_back(std::move(h));
    }
    r.null_mx = j.value("null_mx", false);
    r.implicit_mx = j.value("implicit_mx", false);
    if (auto it = j.find("policy"); it != j.end() && it->is_object()) {
      r.policy.mta_sts = GetOpt<std::string>(*it, "mta_sts");
      r.policy.tls_rpt = GetOpt<std::string>(*it, "tls_rpt");
      r.policy.spf = GetOpt<std::string>(*it, "spf");
      r.policy.dmarc = GetOpt<std::string>(*it, "dmarc");
      r.policy.dmarc_policy = GetOpt<std::string>(*it, "dmarc_policy");
    }
    r.error = GetOpt<std::string>(j, "error");
    r.rank = GetOpt<int64_t>(j, "rank").value_or(0);
    if (auto t = GetOpt<std::string>(j, "resolved_at")) {
      auto ms = ParseTimeMs(*t);
      if (ms.ok()) r.resolved_at_ms = *ms;
    }
    return r;
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(std::string("domain result JSON: ") + e.what());
  }
}

std::string FormatTimeMs(int64_t unix_ms) {
  time_t s = static_cast<time_t>(unix_ms / 1000);
  int ms = static_cast<int>(unix_ms % 1000);
  if (ms < 0) {
    ms += 1000;
    --s;
  }
  struct tm tm;
  gmtime_r(&s, &tm);
  char buf[40];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  snprintf(out, sizeof out, "%s.%03dZ", buf, ms);
  return out;
}

std::string FormatTimeS(int64_t unix_s) {
  time_t s = static_cast<time_t>(unix_s);
  struct tm tm;
  gmtime_r(&s, &tm);
  char buf[40];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

absl::StatusOr<int64_t> ParseTimeMs(const std::string& text) {
  struct tm tm = {};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return absl::InvalidArgumentError("bad timestamp: " + text);
  int ms = 0;
  if (*rest == '.') {
    ++rest;
    int digits = 0;
    while (*rest >= '0' && *rest <= '9') {
      if (digits < 3) ms = ms * 10 + (*rest - '0');
      ++digits;
      ++rest;
    }
    for (; digits < 3; ++digits) ms *= 10;
  }
  if (*rest != 'Z') return absl::InvalidArgumentError("timestamp not in UTC (Z): " + text);
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

std::string Base64Encode(std::string_view in) {
  static constexpr char kTab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kTab[v >> 18];
    out += kTab[(v >> 12) & 63];
    out += kTab[(v >> 6) & 63];
    out += kTab[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kTab[v >> 18];
    out += kTab[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kTab[v >> 18];
    out += kTab[(v >> 12) & 63];
    out += kTab[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

absl::StatusOr<std::string> Base64Decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    int v = val(c);
    if (v < 0) return absl::InvalidArgumentError("invalid base64");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

}  // namespace mxcensus
