#include "lab/truth.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/result_json.h"

namespace mxcensus::lab {
namespace {

std::vector<TlsaRecord> TlsaOf(const Pki& pki, const Host& h) {
  std::vector<TlsaRecord> out;
  if (h.tlsa == TlsaKind::kDaneTa || h.tlsa == TlsaKind::kBoth) {
    out.push_back({2, 0, 1, pki.TlsaData(h, 2)});
  }
  if (h.tlsa == TlsaKind::kDaneEe || h.tlsa == TlsaKind::kBoth) {
    out.push_back({3, 1, 1, pki.TlsaData(h, 3)});
  }
  return out;  // already in (usage, selector, matching_type, data) order
}

MxHost HostEntry(const World& w, const Pki& pki, const std::string& name, uint16_t preference,
                 int32_t host, bool via_cname) {
  MxHost m;
  m.name = name;
  m.preference = preference;
  if (host < 0) {
    m.status = DnsStatus::kNoAddress;
    return m;
  }
  const Host& h = w.hosts[host];
  m.ipv4.push_back(Ipv4String(h.ip));
  if (h.aaaa) m.ipv6.push_back("::1");
  if (via_cname) {
    m.cname = h.name;  // DANE records live only at names that are not aliases in the lab
  } else {
    m.tlsa = TlsaOf(pki, h);
  }
  return m;
}

}  // namespace

nlohmann::ordered_json HostTruth(const World& world, const Pki& pki, size_t i) {
  const Host& h = world.hosts[i];
  const ProfileInfo& info = Info(h.profile);
  nlohmann::ordered_json j;
  j["kind"] = "host";
  j["ip"] = Ipv4String(h.ip);
  j["port"] = world.options.port;
  j["name"] = h.name;
  j["profile"] = info.name;
  j["outcome"] = OutcomeName(info.outcome);
  j["stage"] = StageName(info.stage);
  j["helo_fallback"] = info.helo_fallback;
  j["pipelined_after_starttls"] = info.pipelined_after_starttls;
  if (!info.tls.attempted) {
    j["tls"] = nullptr;
    return j;
  }
  nlohmann::ordered_json t;
  t["handshake_complete"] = info.tls.complete;
  if (info.tls.complete) {
    const LeafFacts& f = pki.facts(i);
    t["version"] = info.tls.version;
    t["group"] = info.tls.group.empty() ? nlohmann::ordered_json(nullptr)
                                        : nlohmann::ordered_json(info.tls.group);
    t["dh_bits"] = info.tls.dh_bits == 0 ? nlohmann::ordered_json(nullptr)
                                         : nlohmann::ordered_json(info.tls.dh_bits);
    t["chain_valid"] = f.chain_valid;
    t["verify_error"] =
        f.verify_error ? nlohmann::ordered_json(*f.verify_error) : nlohmann::ordered_json(nullptr);
    t["name_match"] = f.name_match;
    t["leaf_sha256"] = f.sha256_hex;
  }
  j["tls"] = std::move(t);
  return j;
}

DomainResult DomainTruth(const World& world, const Pki& pki, size_t index) {
  const Domain& d = world.domains[index];
  DomainResult r;
  r.domain = d.name;
  switch (d.kind) {
    case DomainKind::kNxDomain:
      r.status = DnsStatus::kNxDomain;
      return r;
    case DomainKind::kServFail:
      r.status = DnsStatus::kServFail;
      return r;
    case DomainKind::kTimeout:
      r.status = DnsStatus::kTimeout;
      return r;
    case DomainKind::kNoAddress:
      r.status = DnsStatus::kNoAddress;
      return r;
    case DomainKind::kNoMx:
      r.status = DnsStatus::kNoMx;
      return r;
    case DomainKind::kNullMx:
      r.status = DnsStatus::kNullMx;
      r.null_mx = true;
      break;
    case DomainKind::kImplicitMx:
      r.implicit_mx = true;
      r.mx.push_back(HostEntry(world, pki, d.name, 0, d.implicit_host, false));
      break;
    case DomainKind::kSingleMx:
    case DomainKind::kMultiMx:
    case DomainKind::kSharedProvider:
    case DomainKind::kPartialDangling:
    case DomainKind::kMxCname:
    case DomainKind::kBigTxt:
      for (const MxRef& m : d.mx) {
        r.mx.push_back(HostEntry(world, pki, m.name, m.preference, m.host, m.via_cname));
      }
      break;
  }
  std::sort(r.mx.begin(), r.mx.end(), [](const MxHost& a, const MxHost& b) {
    return a.preference != b.preference ? a.preference < b.preference : a.name < b.name;
  });
  if (d.spf_index >= 0) r.policy.spf = JoinTxt(d.apex_txt[d.spf_index]);
  if (d.dmarc) {
    r.policy.dmarc = JoinTxt(*d.dmarc);
    r.policy.dmarc_policy = d.dmarc_policy;
  }
  if (d.mta_sts) r.policy.mta_sts = JoinTxt(*d.mta_sts);
  if (d.tls_rpt) r.policy.tls_rpt = JoinTxt(*d.tls_rpt);
  return r;
}

nlohmann::ordered_json DomainTruthJson(const World& world, const Pki& pki, size_t index) {
  nlohmann::json plain = DomainResultToJson(DomainTruth(world, pki, index));
  nlohmann::ordered_json j;
  j["kind"] = "domain";
  for (auto& [key, value] : plain.items()) j[key] = value;
  return j;
}

absl::Status WriteWorldFiles(const std::string& dir, const World& world, const Pki& pki) {
  std::string truth, targets, domains;
  for (size_t i = 0; i < world.hosts.size(); ++i) {
    truth += HostTruth(world, pki, i).dump();
    truth.push_back('\n');
    absl::StrAppend(&targets, Ipv4String(world.hosts[i].ip), ",", world.hosts[i].name, "\n");
  }
  for (size_t j = 0; j < world.domains.size(); ++j) {
    truth += DomainTruthJson(world, pki, j).dump();
    truth.push_back('\n');
    absl::StrAppend(&domains, world.domains[j].name, "\n");
  }
  if (auto s = WriteFileAtomically(dir + "/truth.jsonl", truth); !s.ok()) return s;
  if (auto s = WriteFileAtomically(dir + "/targets.csv", targets); !s.ok()) return s;
  if (auto s = WriteFileAtomically(dir + "/domains.txt", domains); !s.ok()) return s;
  // The lab's zone as a public suffix (for --psl-extra): each pN.lab.test is then a provider of
  // its own, as registrable domains are on the real Internet.
  return WriteFileAtomically(dir + "/public_suffix_list.dat",
                             absl::StrCat("// mxcensus lab: every provider is a name under ",
                                          kLabZone, "\n", kLabZone, "\n"));
}

}  // namespace mxcensus::lab
