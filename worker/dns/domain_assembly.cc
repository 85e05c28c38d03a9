#include "worker/dns/domain_assembly.h"

#include <ares.h>

#include <algorithm>

#include "worker/dns/policy.h"

namespace mxcensus::dns {
namespace {

// Transient failures ranked by how much they say about the name (the first one wins).
std::optional<DnsStatus> TransientStatus(LookupKind kind) {
  switch (kind) {
    case LookupKind::kTimeout:
      return DnsStatus::kTimeout;
    case LookupKind::kServFail:
    case LookupKind::kCancelled:
      return DnsStatus::kServFail;
    case LookupKind::kRefused:
      return DnsStatus::kRefused;
    case LookupKind::kRecords:
    case LookupKind::kNoData:
    case LookupKind::kNxDomain:
    case LookupKind::kBadName:
      return std::nullopt;
  }
  return std::nullopt;
}

int TransientRank(DnsStatus s) {
  return s == DnsStatus::kTimeout ? 3 : s == DnsStatus::kServFail ? 2 : 1;
}

// The most significant transient failure among `kinds`, if any.
std::optional<DnsStatus> WorstTransient(std::initializer_list<LookupKind> kinds) {
  std::optional<DnsStatus> worst;
  for (LookupKind k : kinds) {
    auto s = TransientStatus(k);
    if (s && (!worst || TransientRank(*s) > TransientRank(*worst))) worst = s;
  }
  return worst;
}

std::string Note(std::string_view what, const std::string& name, LookupKind kind) {
  return std::string(what) + " " + name + ": " + std::string(LookupKindName(kind));
}

}  // namespace

std::string_view LookupKindName(LookupKind kind) {
  switch (kind) {
    case LookupKind::kRecords:
      return "records";
    case LookupKind::kNoData:
      return "nodata";
    case LookupKind::kNxDomain:
      return "nxdomain";
    case LookupKind::kServFail:
      return "servfail";
    case LookupKind::kRefused:
      return "refused";
    case LookupKind::kTimeout:
      return "timeout";
    case LookupKind::kBadName:
      return "bad name";
    case LookupKind::kCancelled:
      return "cancelled";
  }
  return "?";
}

LookupKind ClassifyAresStatus(int status) {
  switch (status) {
    case ARES_SUCCESS:
      return LookupKind::kRecords;
    case ARES_ENODATA:
      return LookupKind::kNoData;
    case ARES_ENOTFOUND:
      return LookupKind::kNxDomain;
    case ARES_EREFUSED:
      return LookupKind::kRefused;
    case ARES_ETIMEOUT:
    case ARES_ECONNREFUSED:
      return LookupKind::kTimeout;
    case ARES_EBADNAME:
    case ARES_EBADQUERY:
    case ARES_EBADFAMILY:
      return LookupKind::kBadName;
    case ARES_EDESTRUCTION:
    case ARES_ECANCELLED:
      return LookupKind::kCancelled;
    default:  // ESERVFAIL, EFORMERR, ENOTIMP, EBADRESP, ENOMEM...
      return LookupKind::kServFail;
  }
}

bool IsTransient(LookupKind kind) { return TransientStatus(kind).has_value(); }

AddressLookup ParseAddressReply(int ares_status, std::span<const uint8_t> msg,
                                const std::string& qname, uint16_t type) {
  AddressLookup out;
  out.kind = ClassifyAresStatus(ares_status);
  bool parse = out.kind == LookupKind::kRecords || out.kind == LookupKind::kNoData ||
               out.kind == LookupKind::kNxDomain;
  if (!parse || msg.empty()) return out;
  auto answer = ExtractAddresses(msg, qname, type);
  if (!answer.ok()) {
    out.kind = LookupKind::kServFail;
    return out;
  }
  out.answer = std::move(*answer);
  if (out.kind == LookupKind::kRecords && out.answer.addresses.empty()) {
    out.kind = LookupKind::kNoData;  // only a CNAME chain, no address at its end
  }
  return out;
}

TlsaLookup ParseTlsaReply(int ares_status, std::span<const uint8_t> msg, const std::string& qname) {
  TlsaLookup out;
  out.kind = ClassifyAresStatus(ares_status);
  if (out.kind != LookupKind::kRecords && out.kind != LookupKind::kNoData) return out;
  if (msg.size() > 3) out.ad = (msg[3] & 0x20) != 0;
  if (out.kind == LookupKind::kNoData || msg.empty()) return out;
  auto records = ExtractTlsa(msg, qname);
  if (!records.ok()) {
    out.kind = LookupKind::kServFail;
    out.ad = false;
    return out;
  }
  out.records = std::move(*records);
  if (out.records.empty()) out.kind = LookupKind::kNoData;
  return out;
}

HostInfo AssembleHost(const std::string& name, const AddressLookup& a,
                      const std::optional<AddressLookup>& aaaa, const TlsaLookup& tlsa) {
  HostInfo info;
  if (a.kind == LookupKind::kRecords) info.ipv4 = a.answer.addresses;
  if (aaaa && aaaa->kind == LookupKind::kRecords) info.ipv6 = aaaa->answer.addresses;
  info.cname = a.answer.cname;
  if (!info.cname && aaaa) info.cname = aaaa->answer.cname;
  LookupKind aaaa_kind = aaaa ? aaaa->kind : LookupKind::kNoData;
  auto transient = WorstTransient({a.kind, aaaa_kind});
  if (!info.ipv4.empty() || !info.ipv6.empty()) {
    info.status = DnsStatus::kOk;
    if (IsTransient(a.kind)) info.notes.push_back(Note("A", name, a.kind));
    if (IsTransient(aaaa_kind)) info.notes.push_back(Note("AAAA", name, aaaa_kind));
  } else if (transient) {
    info.status = *transient;
  } else if (a.kind == LookupKind::kBadName) {
    info.status = DnsStatus::kInvalid;
  } else {
    info.status = DnsStatus::kNoAddress;
  }
  if (tlsa.kind == LookupKind::kRecords || tlsa.kind == LookupKind::kNoData ||
      tlsa.kind == LookupKind::kNxDomain) {
    info.tlsa = tlsa.records;
    info.tlsa_ad = tlsa.ad;
  } else {
    info.notes.push_back(Note("TLSA", "_25._tcp." + name, tlsa.kind));
  }
  info.cacheable = !IsTransient(a.kind) && !IsTransient(aaaa_kind) && !IsTransient(tlsa.kind);
  return info;
}

MxLookup ParseMxReply(int ares_status, std::span<const uint8_t> msg, const std::string& qname) {
  MxLookup out;
  out.kind = ClassifyAresStatus(ares_status);
  if (out.kind != LookupKind::kRecords || msg.empty()) return out;
  auto records = ExtractMx(msg, qname);
  if (!records.ok()) {
    out.kind = LookupKind::kServFail;
    return out;
  }
  out.records = std::move(*records);
  if (out.records.empty()) out.kind = LookupKind::kNoData;  // a CNAME chain without MX at its end
  return out;
}

MxPlan PlanFromMx(const std::string& domain, const MxLookup& mx) {
  MxPlan plan;
  switch (mx.kind) {
    case LookupKind::kRecords: {
      for (const auto& r : mx.records) {
        if (!r.exchange.empty()) plan.hosts.push_back(r);
      }
      if (plan.hosts.empty()) {
        plan.route = MxPlan::Route::kNullMx;  // RFC 7505: the only MX is "."
        if (mx.records.size() > 1 || mx.records[0].preference != 0) {
          plan.notes.push_back("null MX with preference other than 0 or repeated");
        }
      } else {
        plan.route = MxPlan::Route::kHosts;
        if (plan.hosts.size() != mx.records.size()) {
          plan.notes.push_back("null MX mixed with other MX records (RFC 7505 §3): ignored");
        }
      }
      return plan;
    }
    case LookupKind::kNoData:
      plan.route = MxPlan::Route::kImplicit;  // RFC 5321 §5.1: the domain is its own MX
      plan.hosts.push_back(MxRecord{0, domain});
      return plan;
    case LookupKind::kNxDomain:
      plan.terminal = DnsStatus::kNxDomain;
      break;
    case LookupKind::kServFail:
      plan.terminal = DnsStatus::kServFail;
      break;
    case LookupKind::kRefused:
      plan.terminal = DnsStatus::kRefused;
      break;
    case LookupKind::kTimeout:
      plan.terminal = DnsStatus::kTimeout;
      break;
    case LookupKind::kBadName:
      plan.terminal = DnsStatus::kInvalid;
      break;
    case LookupKind::kCancelled:
      plan.terminal = DnsStatus::kServFail;
      plan.notes.push_back("MX lookup cancelled: resolver shut down");
      break;
  }
  plan.route = MxPlan::Route::kTerminal;
  return plan;
}

std::array<std::string, kPolicyLookups> PolicyQueryNames(const std::string& domain) {
  return {domain, "_dmarc." + domain, "_mta-sts." + domain, "_smtp._tls." + domain};
}

TxtLookup ParseTxtReply(int ares_status, std::span<const uint8_t> msg, const std::string& qname) {
  TxtLookup out;
  out.kind = ClassifyAresStatus(ares_status);
  if (out.kind != LookupKind::kRecords || msg.empty()) return out;
  auto txts = ExtractTxt(msg, qname);
  if (!txts.ok()) {
    out.kind = LookupKind::kServFail;
    return out;
  }
  out.txts = std::move(*txts);
  if (out.txts.empty()) out.kind = LookupKind::kNoData;
  return out;
}

namespace {

MxHost ToMxHost(const MxRecord& r, const HostInfo& info) {
  MxHost h;
  h.name = r.exchange;
  h.preference = r.preference;
  h.ipv4 = info.ipv4;
  h.ipv6 = info.ipv6;
  h.cname = info.cname;
  h.status = info.status;
  h.tlsa = info.tlsa;
  h.tlsa_ad = info.tlsa_ad;
  return h;
}

void AssemblePolicy(const std::array<TxtLookup, kPolicyLookups>& policy, const std::string& domain,
                    DomainResult* r, std::vector<std::string>* notes) {
  static constexpr PolicyKind kKinds[kPolicyLookups] = {PolicyKind::kSpf, PolicyKind::kDmarc,
                                                        PolicyKind::kMtaSts, PolicyKind::kTlsRpt};
  std::optional<std::string>* slots[kPolicyLookups] = {&r->policy.spf, &r->policy.dmarc,
                                                       &r->policy.mta_sts, &r->policy.tls_rpt};
  auto names = PolicyQueryNames(domain);
  for (int i = 0; i < kPolicyLookups; ++i) {
    const TxtLookup& t = policy[i];
    if (IsTransient(t.kind)) {
      notes->push_back(Note("TXT", names[i], t.kind));
      continue;
    }
    PolicySelection sel = SelectPolicy(kKinds[i], t.txts);
    *slots[i] = sel.record;
    if (sel.matches > 1) {
      notes->push_back(std::to_string(sel.matches) + " " + std::string(PolicyKindName(kKinds[i])) +
                       " records at " + names[i] + " (invalid): kept the first in byte order");
    }
  }
  if (r->policy.dmarc) r->policy.dmarc_policy = DmarcPolicy(*r->policy.dmarc);
}

}  // namespace

void AssembleDomain(const MxPlan& plan, const std::vector<const HostInfo*>& hosts,
                    const std::array<TxtLookup, kPolicyLookups>& policy, DomainResult* r) {
  std::vector<std::string> notes = plan.notes;
  r->mx.clear();
  r->null_mx = false;
  r->implicit_mx = false;
  switch (plan.route) {
    case MxPlan::Route::kTerminal:
      r->status = plan.terminal;
      break;
    case MxPlan::Route::kNullMx:
      r->status = DnsStatus::kNullMx;
      r->null_mx = true;
      break;
    case MxPlan::Route::kImplicit: {
      const HostInfo& info = *hosts.at(0);
      if (!info.ipv4.empty() || !info.ipv6.empty()) {
        r->status = DnsStatus::kOk;
        r->implicit_mx = true;
        r->mx.push_back(ToMxHost(plan.hosts[0], info));
      } else if (info.status == DnsStatus::kTimeout || info.status == DnsStatus::kServFail ||
                 info.status == DnsStatus::kRefused) {
        r->status = info.status;  // no MX, and the address lookups failed: the route is unknown
      } else {
        r->status = DnsStatus::kNoMx;
      }
      notes.insert(notes.end(), info.notes.begin(), info.notes.end());
      break;
    }
    case MxPlan::Route::kHosts: {
      std::optional<DnsStatus> worst;
      bool any_address = false;
      for (size_t i = 0; i < plan.hosts.size(); ++i) {
        const HostInfo& info = *hosts.at(i);
        r->mx.push_back(ToMxHost(plan.hosts[i], info));
        any_address = any_address || !info.ipv4.empty() || !info.ipv6.empty();
        if (info.status == DnsStatus::kTimeout || info.status == DnsStatus::kServFail ||
            info.status == DnsStatus::kRefused) {
          if (!worst || TransientRank(info.status) > TransientRank(*worst)) worst = info.status;
        }
        notes.insert(notes.end(), info.notes.begin(), info.notes.end());
      }
      r->status = any_address ? DnsStatus::kOk : worst ? *worst : DnsStatus::kNoAddress;
      if (!any_address) {
        // The contract (docs/result-schema.md): only ok and null_mx carry an mx list. What each
        // MX name gave is kept in `error`, for the researcher who wants to see the dangling names.
        std::string names;
        for (const auto& h : r->mx) {
          names += (names.empty() ? "" : ", ") + h.name + " (" +
                   std::string(DnsStatusName(h.status)) + ")";
        }
        notes.insert(notes.begin(), "no MX name has an address: " + names);
        r->mx.clear();
      }
      break;
    }
  }
  AssemblePolicy(policy, r->domain, r, &notes);
  if (notes.empty()) {
    r->error.reset();
  } else {
    std::string joined;
    for (const auto& n : notes) {
      if (!joined.empty()) joined += "; ";
      joined += n;
    }
    r->error = std::move(joined);
  }
}

}  // namespace mxcensus::dns
