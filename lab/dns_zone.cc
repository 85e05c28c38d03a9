#include "lab/dns_zone.h"

#include <arpa/inet.h>

#include "lab/dns_message.h"

namespace mxcensus::lab {
namespace {

using namespace dns;  // NOLINT: the wire constants

constexpr uint32_t kTtl = 300;
constexpr uint32_t kNegativeTtl = 60;
constexpr int kMaxCnameHops = 8;

bool InZone(const std::string& name) {
  const std::string_view zone = kLabZone;
  if (name == zone) return true;
  return name.size() > zone.size() &&
         name.compare(name.size() - zone.size(), zone.size(), zone) == 0 &&
         name[name.size() - zone.size() - 1] == '.';
}

std::string Parent(const std::string& name) {
  size_t dot = name.find('.');
  return dot == std::string::npos ? std::string() : name.substr(dot + 1);
}

std::string TxtRdata(const TxtRecord& txt) {
  std::string r;
  for (const auto& s : txt) {
    std::string_view rest = s;
    do {  // character-strings are at most 255 octets
      std::string_view part = rest.substr(0, 255);
      r.push_back(static_cast<char>(part.size()));
      r.append(part);
      rest.remove_prefix(part.size());
    } while (!rest.empty());
  }
  return r;
}

std::string HexToBytes(const std::string& hex) {
  std::string out;
  auto nib = [](char ch) { return ch <= '9' ? ch - '0' : ch - 'a' + 10; };
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>((nib(hex[i]) << 4) | nib(hex[i + 1])));
  }
  return out;
}

void AppendRr(std::string& out, std::string_view owner, bool owner_is_qname, uint16_t type,
              uint32_t ttl, const std::string& rdata) {
  if (owner_is_qname) {
    out.push_back(static_cast<char>(0xc0));  // pointer to the question name at offset 12
    out.push_back(12);
  } else {
    AppendName(out, owner);
  }
  AppendU16(out, type);
  AppendU16(out, kClassIn);
  AppendU32(out, ttl);
  AppendU16(out, static_cast<uint16_t>(rdata.size()));
  out += rdata;
}

void SetU16(std::string& out, size_t at, uint16_t v) {
  out[at] = static_cast<char>(v >> 8);
  out[at + 1] = static_cast<char>(v & 0xff);
}

}  // namespace

Zone::Node& Zone::Ensure(const std::string& name) {
  auto [it, inserted] = nodes_.try_emplace(name);
  if (inserted) {
    // Every ancestor inside the zone exists (as an empty non-terminal if it has no records),
    // so that queries for it get NODATA, not NXDOMAIN (RFC 8020).
    for (std::string p = Parent(name); InZone(p) && nodes_.find(p) == nodes_.end(); p = Parent(p)) {
      nodes_.try_emplace(p);
    }
  }
  return it->second;
}

void Zone::Add(const std::string& name, uint16_t type, std::string rdata, std::string target) {
  Ensure(name).rrs.push_back({type, std::move(rdata), std::move(target)});
}

const Zone::Node* Zone::Find(const std::string& name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

std::unique_ptr<Zone> Zone::Build(const World& world, const Pki& pki, uint32_t ns_ip) {
  std::unique_ptr<Zone> z(new Zone());
  z->nodes_.reserve(world.hosts.size() * 2 + world.domains.size() * 3);
  const std::string apex = kLabZone;
  const std::string ns = std::string("ns.") + kLabZone;
  std::string soa;
  AppendName(soa, ns);
  AppendName(soa, std::string("hostmaster.") + kLabZone);
  for (uint32_t v : {1u, 3600u, 600u, 86400u, kNegativeTtl}) AppendU32(soa, v);
  z->soa_rdata_ = soa;
  z->Add(apex, kTypeSoa, soa);
  std::string ns_rdata;
  AppendName(ns_rdata, ns);
  z->Add(apex, kTypeNs, ns_rdata);
  std::string a(4, '\0');
  uint32_t be = htonl(ns_ip);
  memcpy(a.data(), &be, 4);
  z->Add(ns, kTypeA, a);

  const std::string loopback6(15, '\0');
  for (const Host& h : world.hosts) {
    be = htonl(h.ip);
    memcpy(a.data(), &be, 4);
    z->Add(h.name, kTypeA, a);
    if (h.aaaa) z->Add(h.name, kTypeAaaa, loopback6 + '\x01');  // ::1, data only
    if (h.tlsa != TlsaKind::kNone) {
      const std::string owner = "_25._tcp." + h.name;
      for (uint8_t usage : {uint8_t{2}, uint8_t{3}}) {
        const bool want = h.tlsa == TlsaKind::kBoth ||
                          (usage == 2 && h.tlsa == TlsaKind::kDaneTa) ||
                          (usage == 3 && h.tlsa == TlsaKind::kDaneEe);
        if (!want) continue;
        std::string r;
        r.push_back(static_cast<char>(usage));
        r.push_back(static_cast<char>(usage == 3 ? 1 : 0));  // 3 1 1 / 2 0 1
        r.push_back(1);
        r += HexToBytes(pki.TlsaData(h, usage));
        z->Add(owner, kTypeTlsa, r);
      }
    }
  }
  for (const Domain& d : world.domains) {
    switch (d.kind) {
      case DomainKind::kNxDomain:
        continue;
      case DomainKind::kServFail:
        z->Ensure(d.name).servfail = true;
        continue;
      case DomainKind::kTimeout:
        z->Ensure(d.name).timeout = true;
        continue;
      default:
        break;
    }
    for (const MxRef& m : d.mx) {
      std::string r;
      AppendU16(r, m.preference);
      AppendName(r, m.name);
      z->Add(d.name, kTypeMx, r);
      if (m.via_cname) {
        const std::string& target = world.hosts[m.host].name;
        std::string t;
        AppendName(t, target);
        z->Add(m.name, kTypeCname, t, target);
      }
    }
    for (const TxtRecord& t : d.apex_txt) z->Add(d.name, kTypeTxt, TxtRdata(t));
    if (d.dmarc) z->Add("_dmarc." + d.name, kTypeTxt, TxtRdata(*d.dmarc));
    if (d.mta_sts) z->Add("_mta-sts." + d.name, kTypeTxt, TxtRdata(*d.mta_sts));
    if (d.tls_rpt) z->Add("_smtp._tls." + d.name, kTypeTxt, TxtRdata(*d.tls_rpt));
    z->Ensure(d.name);
  }
  return z;
}

Zone::Action Zone::Answer(std::span<const uint8_t> msg, bool tcp, std::string* out) const {
  Query q;
  out->clear();
  ParseStatus ps = ParseQuery(msg, &q);
  if (ps == ParseStatus::kNotQuery) return Action::kDrop;
  const uint16_t opcode = (q.flags >> 11) & 0xf;
  uint16_t flags = static_cast<uint16_t>(0x8000 | (opcode << 11) | (q.flags & 0x0100));  // QR, RD
  auto header = [&](uint16_t rcode, bool question) {
    AppendU16(*out, q.id);
    AppendU16(*out, static_cast<uint16_t>(flags | (rcode & 0xf)));
    AppendU16(*out, question ? 1 : 0);
    AppendU16(*out, 0);
    AppendU16(*out, 0);
    AppendU16(*out, 0);
    if (question) out->append(reinterpret_cast<const char*>(msg.data()) + 12, q.question_end - 12);
  };
  auto opt = [&](uint16_t ext_rcode) {
    if (!q.edns) return;
    out->push_back('\0');
    AppendU16(*out, kTypeOpt);
    AppendU16(*out, static_cast<uint16_t>(kMaxUdpPayload));
    AppendU32(*out, (static_cast<uint32_t>(ext_rcode >> 4) << 24) | (q.edns_do ? 0x8000u : 0u));
    AppendU16(*out, 0);
    SetU16(*out, 10, 1);  // ARCOUNT: the OPT is the only additional record
  };
  if (ps == ParseStatus::kFormErr) {
    header(kRcodeFormErr, false);
    return Action::kReply;
  }
  if (q.edns && q.edns_version > 0) {
    header(kRcodeBadVers & 0xf, true);
    opt(kRcodeBadVers);
    return Action::kReply;
  }
  if (opcode != 0) {
    header(kRcodeNotImp, true);
    opt(0);
    return Action::kReply;
  }
  if ((q.qclass != kClassIn && q.qclass != kTypeAny) || !InZone(q.qname)) {
    header(kRcodeRefused, true);  // not authoritative for it: no AA
    opt(0);
    return Action::kReply;
  }
  for (std::string n = q.qname; InZone(n); n = Parent(n)) {
    if (const Node* node = Find(n)) {
      if (node->timeout) return Action::kDrop;
      if (node->servfail) {
        header(kRcodeServFail, true);
        opt(0);
        return Action::kReply;
      }
    }
  }
  flags |= 0x0400;  // AA
  struct Answer {
    const std::string* owner;  // nullptr = the question name
    const Rr* rr;
  };
  Answer answers[64];
  int count = 0;
  uint16_t rcode = kRcodeNoError;
  const Node* node = Find(q.qname);
  const std::string* owner = nullptr;
  if (node == nullptr) rcode = kRcodeNxDomain;
  for (int hop = 0; node != nullptr && hop <= kMaxCnameHops; ++hop) {
    const Rr* cname = nullptr;
    if (q.qtype != kTypeCname && q.qtype != kTypeAny) {
      for (const Rr& rr : node->rrs) {
        if (rr.type == kTypeCname) cname = &rr;
      }
    }
    if (cname == nullptr) {
      for (const Rr& rr : node->rrs) {
        if ((rr.type == q.qtype || q.qtype == kTypeAny) && count < 64)
          answers[count++] = {owner, &rr};
      }
      break;
    }
    if (count < 64) answers[count++] = {owner, cname};
    owner = &cname->target;
    node = Find(cname->target);
    if (node == nullptr) rcode = kRcodeNxDomain;
  }
  header(rcode, true);
  bool any_final = false;
  for (int i = 0; i < count; ++i) {
    const Answer& an = answers[i];
    AppendRr(*out, an.owner ? *an.owner : q.qname, an.owner == nullptr, an.rr->type, kTtl,
             an.rr->rdata);
    any_final =
        any_final || an.rr->type != kTypeCname || q.qtype == kTypeCname || q.qtype == kTypeAny;
  }
  SetU16(*out, 6, static_cast<uint16_t>(count));
  if (!any_final) {  // NXDOMAIN or NODATA: the SOA tells how long to cache the negative answer
    AppendRr(*out, kLabZone, false, kTypeSoa, kNegativeTtl, soa_rdata_);
    SetU16(*out, 8, 1);
  }
  opt(0);
  const size_t limit =
      tcp ? 65535 : (q.edns ? std::min<size_t>(q.edns_udp_size, kMaxUdpPayload) : 512);
  if (out->size() > limit) {
    // Truncated: header + question (+ OPT); the client retries over TCP.
    out->clear();
    flags |= 0x0200;  // TC
    header(rcode, true);
    opt(0);
  }
  return Action::kReply;
}

}  // namespace mxcensus::lab
