#include "common/result_json.h"

#include <array>
#include <cmath>
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
  return json{{"sha256", c.sha256_hex},
              {"subject", c.subject},
              {"issuer", c.issuer},
              {"sans", c.sans},
              {"not_before", FormatTimeS(c.not_before)},
              {"not_after", FormatTimeS(c.not_after)},
              {"key_type", c.key_type},
              {"key_bits", c.key_bits},
              {"sig_alg", c.sig_alg},
              {"self_signed", c.self_signed}};
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

namespace {

// The direct writer. Each object's keys are written in the order nlohmann::json (a std::map)
// sorts them, so the bytes equal the tree's dump.
class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(*out) {}

  // An object member: `,"key":` (the comma unless first). Keys are our own ASCII literals.
  void Key(std::string_view key) {
    if (!first_) out_ += ',';
    first_ = false;
    out_ += '"';
    out_ += key;
    out_ += "\":";
  }
  void Open(char c) {
    out_ += c;
    first_ = true;
  }
  void Close(char c) {
    out_ += c;
    first_ = false;
  }
  void Null() { out_ += "null"; }
  void Bool(bool b) { out_ += b ? "true" : "false"; }
  void Int(int64_t v) {
    char buf[24];
    char* end = buf + sizeof buf;
    char* p = end;
    uint64_t u = v < 0 ? uint64_t{0} - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
    do {
      *--p = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u != 0);
    if (v < 0) *--p = '-';
    out_.append(p, static_cast<size_t>(end - p));
  }
  void Double(double v) {
    if (!std::isfinite(v)) return Null();  // as nlohmann's dump_float
    // nlohmann's own shortest round-trip formatting (grisu2, "5.0", "1e-05"), not printf's.
    char buf[64];
    char* end = nlohmann::detail::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, static_cast<size_t>(end - buf));
  }
  void Number(int v) { Int(v); }
  void Number(double v) { Double(v); }
  // A member only when the value is set (the tree form leaves unset keys out).
  template <typename T>
  void OptMember(std::string_view key, const std::optional<T>& v) {
    if (!v) return;
    Key(key);
    Number(*v);
  }
  // A string known to need no escaping (base64, hex, our own names).
  void Plain(std::string_view s) {
    out_ += '"';
    out_ += s;
    out_ += '"';
  }
  void String(std::string_view s);
  void OptString(const std::optional<std::string>& s) { s ? String(*s) : Null(); }
  void StringOrNull(const std::string& s) { s.empty() ? Null() : String(s); }
  void Strings(const std::vector<std::string>& v) {
    Open('[');
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out_ += ',';
      String(v[i]);
    }
    Close(']');
  }
  void Base64(std::string_view in);
  std::string& raw() { return out_; }

 private:
  std::string& out_;
  bool first_ = true;
};

// nlohmann's UTF-8 DFA (Bjoern Hoehrmann's decoder, as in its serializer.hpp): the same
// decisions about which bytes are invalid and where a replacement starts.
constexpr uint8_t kUtf8Accept = 0;
constexpr uint8_t kUtf8Reject = 1;
// clang-format off
constexpr std::array<uint8_t, 400> kUtf8d = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    8, 8, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    0xA, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x4, 0x3, 0x3,
    0xB, 0x6, 0x6, 0x6, 0x5, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8,
    0x0, 0x1, 0x2, 0x3, 0x5, 0x8, 0x7, 0x1, 0x1, 0x1, 0x4, 0x6, 0x1, 0x1, 0x1, 0x1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1,
    1, 2, 1, 1, 1, 1, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 2, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 3, 1, 3, 1, 1, 1, 1, 1, 1,
    1, 3, 1, 1, 1, 1, 1, 3, 1, 3, 1, 1, 1, 1, 1, 1,
    1, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};
// clang-format on

uint8_t Utf8Decode(uint8_t* state, uint32_t* codep, uint8_t byte) {
  uint8_t type = kUtf8d[byte];
  *codep = *state != kUtf8Accept ? (byte & 0x3fu) | (*codep << 6u) : (0xFFu >> type) & byte;
  *state = kUtf8d[256u + *state * 16u + type];
  return *state;
}

// nlohmann's dump_escaped with ensure_ascii = false and error_handler_t::replace: runs of plain
// ASCII are copied at once, everything else follows its algorithm step by step.
void JsonWriter::String(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  out_ += '"';
  uint32_t codepoint = 0;
  uint8_t state = kUtf8Accept;
  size_t after_accept = out_.size();  // output length at the last complete code point
  size_t undumped = 0;                // bytes of an incomplete sequence seen so far
  const size_t n = s.size();
  for (size_t i = 0; i < n; ++i) {
    if (state == kUtf8Accept) {
      size_t j = i;
      while (j < n) {
        auto c = static_cast<unsigned char>(s[j]);
        if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
        ++j;
      }
      if (j > i) {
        out_.append(s.data() + i, j - i);
        after_accept = out_.size();
        i = j;
        if (i == n) break;
      }
    }
    auto byte = static_cast<uint8_t>(s[i]);
    switch (Utf8Decode(&state, &codepoint, byte)) {
      case kUtf8Accept:
        switch (codepoint) {
          case 0x08:
            out_ += "\\b";
            break;
          case 0x09:
            out_ += "\\t";
            break;
          case 0x0A:
            out_ += "\\n";
            break;
          case 0x0C:
            out_ += "\\f";
            break;
          case 0x0D:
            out_ += "\\r";
            break;
          case 0x22:
            out_ += "\\\"";
            break;
          case 0x5C:
            out_ += "\\\\";
            break;
          default:
            if (codepoint <= 0x1F) {
              char esc[6] = {'\\', 'u', '0', '0', kHex[codepoint >> 4], kHex[codepoint & 15]};
              out_.append(esc, sizeof esc);
            } else {
              out_ += static_cast<char>(byte);
            }
        }
        after_accept = out_.size();
        undumped = 0;
        break;
      case kUtf8Reject:
        // The byte may be fine on its own, only not after the sequence before it: read it
        // again from a fresh state (unless it started the sequence itself).
        if (undumped > 0) --i;
        out_.resize(after_accept);
        out_ += kReplacement;
        after_accept = out_.size();
        undumped = 0;
        state = kUtf8Accept;
        break;
      default:  // inside a multi-byte sequence
        out_ += static_cast<char>(byte);
        ++undumped;
    }
  }
  if (state != kUtf8Accept) {  // the string ended inside a sequence
    out_.resize(after_accept);
    out_ += kReplacement;
  }
  out_ += '"';
}

void JsonWriter::Base64(std::string_view in) {
  static constexpr char kTab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t at = out_.size();
  out_.resize(at + 2 + (in.size() + 2) / 3 * 4);
  char* p = out_.data() + at;
  *p++ = '"';
  const auto* b = reinterpret_cast<const uint8_t*>(in.data());
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint32_t{b[i]} << 16) | (uint32_t{b[i + 1]} << 8) | b[i + 2];
    *p++ = kTab[v >> 18];
    *p++ = kTab[(v >> 12) & 63];
    *p++ = kTab[(v >> 6) & 63];
    *p++ = kTab[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint32_t{b[i]} << 16;
    *p++ = kTab[v >> 18];
    *p++ = kTab[(v >> 12) & 63];
    *p++ = '=';
    *p++ = '=';
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint32_t{b[i]} << 16) | (uint32_t{b[i + 1]} << 8);
    *p++ = kTab[v >> 18];
    *p++ = kTab[(v >> 12) & 63];
    *p++ = kTab[(v >> 6) & 63];
    *p++ = '=';
  }
  *p = '"';
}

void WriteLeaf(JsonWriter& w, const CertSummary& c) {
  w.Open('{');
  w.Key("issuer");
  w.String(c.issuer);
  w.Key("key_bits");
  w.Int(c.key_bits);
  w.Key("key_type");
  w.String(c.key_type);
  w.Key("not_after");
  w.String(FormatTimeS(c.not_after));
  w.Key("not_before");
  w.String(FormatTimeS(c.not_before));
  w.Key("sans");
  w.Strings(c.sans);
  w.Key("self_signed");
  w.Bool(c.self_signed);
  w.Key("sha256");
  w.String(c.sha256_hex);
  w.Key("sig_alg");
  w.String(c.sig_alg);
  w.Key("subject");
  w.String(c.subject);
  w.Close('}');
}

void WriteTls(JsonWriter& w, const TlsFacts& t) {
  w.Open('{');
  w.Key("alert");
  w.OptString(t.alert);
  w.Key("chain");
  w.Open('[');
  for (size_t i = 0; i < t.chain_der.size(); ++i) {
    if (i) w.raw() += ',';
    w.Base64(t.chain_der[i]);
  }
  w.Close(']');
  w.Key("chain_valid");
  w.Bool(t.chain_valid);
  w.Key("cipher");
  w.StringOrNull(t.cipher);
  w.Key("dh_bits");
  t.dh_bits ? w.Int(*t.dh_bits) : w.Null();
  w.Key("group");
  w.StringOrNull(t.group);
  w.Key("handshake_complete");
  w.Bool(t.handshake_complete);
  w.Key("leaf");
  t.leaf ? WriteLeaf(w, *t.leaf) : w.Null();
  w.Key("name_match");
  w.Bool(t.name_match);
  w.Key("verify_error");
  w.OptString(t.verify_error);
  w.Key("version");
  w.StringOrNull(t.version);
  w.Close('}');
}

}  // namespace

void AppendProbeResultJson(const ProbeResult& r, std::string* out) {
  JsonWriter w(out);
  w.Open('{');
  w.Key("banner");
  w.String(r.banner);
  w.Key("codes");
  w.Open('{');
  w.OptMember("banner", r.codes.banner);
  w.OptMember("ehlo", r.codes.ehlo);
  w.OptMember("ehlo_tls", r.codes.ehlo_tls);
  w.OptMember("helo", r.codes.helo);
  w.OptMember("quit", r.codes.quit);
  w.OptMember("starttls", r.codes.starttls);
  w.Close('}');
  w.Key("ehlo");
  w.Strings(r.ehlo);
  w.Key("ehlo_tls");
  w.Strings(r.ehlo_tls);
  w.Key("error");
  w.OptString(r.error);
  w.Key("helo_fallback");
  w.Bool(r.helo_fallback);
  w.Key("ip");
  w.String(r.ip);
  w.Key("name");
  w.String(r.name);
  w.Key("outcome");
  w.Plain(OutcomeName(r.outcome));
  w.Key("pipelined_after_starttls");
  w.Bool(r.pipelined_after_starttls);
  w.Key("port");
  w.Int(r.port);
  w.Key("stage");
  w.Plain(StageName(r.stage));
  w.Key("started_at");
  w.String(FormatTimeMs(r.started_at_ms));
  w.Key("tag");
  w.String(r.tag);
  w.Key("timing_ms");
  w.Open('{');
  w.OptMember("banner", r.timing_ms.banner);
  w.OptMember("connect", r.timing_ms.connect);
  w.OptMember("ehlo", r.timing_ms.ehlo);
  w.OptMember("ehlo_tls", r.timing_ms.ehlo_tls);
  w.OptMember("quit", r.timing_ms.quit);
  w.OptMember("starttls", r.timing_ms.starttls);
  w.OptMember("tls", r.timing_ms.tls);
  w.Key("total");
  w.Double(r.timing_ms.total);
  w.Close('}');
  w.Key("tls");
  r.tls ? WriteTls(w, *r.tls) : w.Null();
  w.Close('}');
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
