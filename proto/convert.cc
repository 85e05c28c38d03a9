#include "proto/convert.h"

#include <string>

#include "common/result_json.h"

namespace mxcensus {
namespace {

// proto3 scalars have no presence. A reply code is never 0 when present, so 0 means absent.
void PutCode(const std::optional<int>& v, v1::ReplyCodes* c, void (v1::ReplyCodes::*set)(int32_t)) {
  if (v) (c->*set)(*v);
}
std::optional<int> GetCode(int32_t v) { return v == 0 ? std::nullopt : std::optional<int>(v); }

// Timings: a stage that was reached takes at least a tiny positive time; encode "absent" as a
// negative value so that a measured 0.0 ms survives.
double PutMs(const std::optional<double>& v) { return v ? *v : -1.0; }
std::optional<double> GetMs(double v) { return v < 0 ? std::nullopt : std::optional<double>(v); }

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Lower- or upper-case hex to bytes; stops at the first pair that is not hex.
std::string HexToBytes(const std::string& hex) {
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    const int hi = HexDigit(hex[i]);
    const int lo = HexDigit(hex[i + 1]);
    if (hi < 0 || lo < 0) break;
    out += static_cast<char>(hi << 4 | lo);
  }
  return out;
}

void MoveStrings(std::vector<std::string>& from,
                 google::protobuf::RepeatedPtrField<std::string>* to) {
  to->Reserve(static_cast<int>(from.size()));
  for (auto& s : from) to->Add(std::move(s));
}

void TsFromMs(int64_t ms, google::protobuf::Timestamp* ts) {
  ts->set_seconds(ms / 1000);
  ts->set_nanos(static_cast<int32_t>((ms % 1000) * 1000000));
}
int64_t MsFromTs(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000 + ts.nanos() / 1000000;
}

void TakeStrings(google::protobuf::RepeatedPtrField<std::string>* from,
                 std::vector<std::string>& to) {
  to.reserve(static_cast<size_t>(from->size()));
  for (auto& s : *from) to.push_back(std::move(s));
}

}  // namespace

void ToProto(ProbeResult&& in, v1::ProbeResult* out) {
  // The strings move into the message: a result's banner, EHLO lines and chain DER are not
  // copied on their way to the wire.
  out->set_ip(std::move(in.ip));
  out->set_port(in.port);
  out->set_name(std::move(in.name));
  out->set_tag(std::move(in.tag));
  out->set_outcome(static_cast<v1::ProbeOutcome>(static_cast<int>(in.outcome) + 1));
  out->set_stage(static_cast<v1::ProbeStage>(static_cast<int>(in.stage) + 1));
  if (in.error) out->set_error(std::move(*in.error));
  out->set_banner(std::move(in.banner));
  MoveStrings(in.ehlo, out->mutable_ehlo());
  MoveStrings(in.ehlo_tls, out->mutable_ehlo_tls());
  out->set_helo_fallback(in.helo_fallback);
  out->set_pipelined_after_starttls(in.pipelined_after_starttls);
  auto* c = out->mutable_codes();
  PutCode(in.codes.banner, c, &v1::ReplyCodes::set_banner);
  PutCode(in.codes.ehlo, c, &v1::ReplyCodes::set_ehlo);
  PutCode(in.codes.helo, c, &v1::ReplyCodes::set_helo);
  PutCode(in.codes.starttls, c, &v1::ReplyCodes::set_starttls);
  PutCode(in.codes.ehlo_tls, c, &v1::ReplyCodes::set_ehlo_tls);
  PutCode(in.codes.quit, c, &v1::ReplyCodes::set_quit);
  if (in.tls) {
    TlsFacts& t = *in.tls;
    auto* o = out->mutable_tls();
    o->set_version(std::move(t.version));
    o->set_cipher(std::move(t.cipher));
    o->set_group(std::move(t.group));
    o->set_dh_bits(t.dh_bits ? *t.dh_bits : -1);
    MoveStrings(t.chain_der, o->mutable_chain());
    MoveStrings(t.chain_sha256, o->mutable_chain_sha256());
    if (t.leaf) {
      CertSummary& s = *t.leaf;
      auto* l = o->mutable_leaf();
      l->set_sha256(HexToBytes(s.sha256_hex));
      l->set_subject(std::move(s.subject));
      l->set_issuer(std::move(s.issuer));
      MoveStrings(s.sans, l->mutable_sans());
      l->mutable_not_before()->set_seconds(s.not_before);
      l->mutable_not_after()->set_seconds(s.not_after);
      l->set_key_type(std::move(s.key_type));
      l->set_key_bits(s.key_bits);
      l->set_sig_alg(std::move(s.sig_alg));
      l->set_self_signed(s.self_signed);
    }
    o->set_chain_valid(t.chain_valid);
    if (t.verify_error) o->set_verify_error(std::move(*t.verify_error));
    o->set_name_match(t.name_match);
    if (t.alert) o->set_alert(std::move(*t.alert));
    o->set_handshake_complete(t.handshake_complete);
  }
  auto* tm = out->mutable_timing();
  tm->set_connect_ms(PutMs(in.timing_ms.connect));
  tm->set_banner_ms(PutMs(in.timing_ms.banner));
  tm->set_ehlo_ms(PutMs(in.timing_ms.ehlo));
  tm->set_starttls_ms(PutMs(in.timing_ms.starttls));
  tm->set_tls_ms(PutMs(in.timing_ms.tls));
  tm->set_ehlo_tls_ms(PutMs(in.timing_ms.ehlo_tls));
  tm->set_quit_ms(PutMs(in.timing_ms.quit));
  tm->set_total_ms(in.timing_ms.total);
  TsFromMs(in.started_at_ms, out->mutable_started_at());
  out->set_target_id(in.target_id);
}

void ToProto(const ProbeResult& in, v1::ProbeResult* out) {
  ProbeResult copy = in;
  ToProto(std::move(copy), out);
}

ProbeResult FromProto(v1::ProbeResult&& in) {
  // The message's strings move out (the coordinator's path: chain DER is not copied again).
  ProbeResult r;
  r.ip = std::move(*in.mutable_ip());
  r.port = static_cast<uint16_t>(in.port());
  r.name = std::move(*in.mutable_name());
  r.tag = std::move(*in.mutable_tag());
  int outcome_index = static_cast<int>(in.outcome()) - 1;
  r.outcome = outcome_index >= 0 && outcome_index < kProbeOutcomeCount
                  ? static_cast<ProbeOutcome>(outcome_index)
                  : ProbeOutcome::kProtocolError;
  int s = static_cast<int>(in.stage()) - 1;
  r.stage = s >= 0 && s < kProbeStageCount ? static_cast<ProbeStage>(s) : ProbeStage::kConnect;
  if (!in.error().empty()) r.error = std::move(*in.mutable_error());
  r.banner = std::move(*in.mutable_banner());
  TakeStrings(in.mutable_ehlo(), r.ehlo);
  TakeStrings(in.mutable_ehlo_tls(), r.ehlo_tls);
  r.helo_fallback = in.helo_fallback();
  r.pipelined_after_starttls = in.pipelined_after_starttls();
  r.codes.banner = GetCode(in.codes().banner());
  r.codes.ehlo = GetCode(in.codes().ehlo());
  r.codes.helo = GetCode(in.codes().helo());
  r.codes.starttls = GetCode(in.codes().starttls());
  r.codes.ehlo_tls = GetCode(in.codes().ehlo_tls());
  r.codes.quit = GetCode(in.codes().quit());
  if (in.has_tls()) {
    auto& o = *in.mutable_tls();
    TlsFacts t;
    t.version = std::move(*o.mutable_version());
    t.cipher = std::move(*o.mutable_cipher());
    t.group = std::move(*o.mutable_group());
    if (o.dh_bits() >= 0) t.dh_bits = o.dh_bits();
    TakeStrings(o.mutable_chain(), t.chain_der);
    TakeStrings(o.mutable_chain_sha256(), t.chain_sha256);
    if (o.has_leaf()) {
      auto& l = *o.mutable_leaf();
      CertSummary c;
      c.sha256_hex = HexEncode(l.sha256());
      c.subject = std::move(*l.mutable_subject());
      c.issuer = std::move(*l.mutable_issuer());
      TakeStrings(l.mutable_sans(), c.sans);
      c.not_before = l.not_before().seconds();
      c.not_after = l.not_after().seconds();
      c.key_type = std::move(*l.mutable_key_type());
      c.key_bits = l.key_bits();
      c.sig_alg = std::move(*l.mutable_sig_alg());
      c.self_signed = l.self_signed();
      t.leaf = std::move(c);
    }
    t.chain_valid = o.chain_valid();
    if (!o.verify_error().empty()) t.verify_error = std::move(*o.mutable_verify_error());
    t.name_match = o.name_match();
    if (!o.alert().empty()) t.alert = std::move(*o.mutable_alert());
    t.handshake_complete = o.handshake_complete();
    r.tls = std::move(t);
  }
  const auto& tm = in.timing();
  r.timing_ms.connect = GetMs(tm.connect_ms());
  r.timing_ms.banner = GetMs(tm.banner_ms());
  r.timing_ms.ehlo = GetMs(tm.ehlo_ms());
  r.timing_ms.starttls = GetMs(tm.starttls_ms());
  r.timing_ms.tls = GetMs(tm.tls_ms());
  r.timing_ms.ehlo_tls = GetMs(tm.ehlo_tls_ms());
  r.timing_ms.quit = GetMs(tm.quit_ms());
  r.timing_ms.total = tm.total_ms();
  r.started_at_ms = MsFromTs(in.started_at());
  r.target_id = in.target_id();
  return r;
}

ProbeResult FromProto(const v1::ProbeResult& in) {
  v1::ProbeResult copy = in;
  return FromProto(std::move(copy));
}

void ToProto(const DomainResult& in, v1::DomainResult* out) {
  out->set_domain(in.domain);
  out->set_status(static_cast<v1::DnsStatus>(static_cast<int>(in.status) + 1));
  for (const auto& h : in.mx) {
    auto* m = out->add_mx();
    m->set_name(h.name);
    m->set_preference(h.preference);
    for (const auto& a : h.ipv4) m->add_ipv4(a);
    for (const auto& a : h.ipv6) m->add_ipv6(a);
    if (h.cname) m->set_cname(*h.cname);
    m->set_status(static_cast<v1::DnsStatus>(static_cast<int>(h.status) + 1));
    for (const auto& t : h.tlsa) {
      auto* r = m->add_tlsa();
      r->set_usage(t.usage);
      r->set_selector(t.selector);
      r->set_matching_type(t.matching_type);
      r->set_data(HexToBytes(t.data_hex));
    }
    m->set_tlsa_ad(h.tlsa_ad);
  }
  out->set_null_mx(in.null_mx);
  out->set_implicit_mx(in.implicit_mx);
  auto* p = out->mutable_policy();
  // A published record is never empty text (it starts with v=...), so "" means absent.
  if (in.policy.mta_sts) p->set_mta_sts(*in.policy.mta_sts);
  if (in.policy.tls_rpt) p->set_tls_rpt(*in.policy.tls_rpt);
  if (in.policy.spf) p->set_spf(*in.policy.spf);
  if (in.policy.dmarc) p->set_dmarc(*in.policy.dmarc);
  if (in.policy.dmarc_policy) p->set_dmarc_policy(*in.policy.dmarc_policy);
  if (in.error) out->set_error(*in.error);
  TsFromMs(in.resolved_at_ms, out->mutable_resolved_at());
  out->set_rank(in.rank);
}

DomainResult FromProto(const v1::DomainResult& in) {
  DomainResult r;
  r.domain = in.domain();
  int s = static_cast<int>(in.status()) - 1;
  r.status = s >= 0 && s < kDnsStatusCount ? static_cast<DnsStatus>(s) : DnsStatus::kInvalid;
  for (const auto& m : in.mx()) {
    MxHost h;
    h.name = m.name();
    h.preference = static_cast<uint16_t>(m.preference());
    h.ipv4.assign(m.ipv4().begin(), m.ipv4().end());
    h.ipv6.assign(m.ipv6().begin(), m.ipv6().end());
    if (!m.cname().empty()) h.cname = m.cname();
    int hs = static_cast<int>(m.status()) - 1;
    h.status = hs >= 0 && hs < kDnsStatusCount ? static_cast<DnsStatus>(hs) : DnsStatus::kInvalid;
    for (const auto& t : m.tlsa()) {
      h.tlsa.push_back(TlsaRecord{static_cast<uint8_t>(t.usage()),
                                  static_cast<uint8_t>(t.selector()),
                                  static_cast<uint8_t>(t.matching_type()), HexEncode(t.data())});
    }
    h.tlsa_ad = m.tlsa_ad();
    r.mx.push_back(std::move(h));
  }
  r.null_mx = in.null_mx();
  r.implicit_mx = in.implicit_mx();
  const auto& p = in.policy();
  if (!p.mta_sts().empty()) r.policy.mta_sts = p.mta_sts();
  if (!p.tls_rpt().empty()) r.policy.tls_rpt = p.tls_rpt();
  if (!p.spf().empty()) r.policy.spf = p.spf();
  if (!p.dmarc().empty()) r.policy.dmarc = p.dmarc();
  if (!p.dmarc_policy().empty()) r.policy.dmarc_policy = p.dmarc_policy();
  if (!in.error().empty()) r.error = in.error();
  r.resolved_at_ms = MsFromTs(in.resolved_at());
  r.rank = in.rank();
  return r;
}

}  // namespace mxcensus
