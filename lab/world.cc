#include "lab/world.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace mxcensus::lab {
namespace {

// SplitMix64: a small, fully specified PRNG, so that worlds are identical on every platform and
// standard library (std::uniform_int_distribution is implementation-defined).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint32_t Below(uint32_t n) { return n == 0 ? 0 : static_cast<uint32_t>(Next() % n); }
  // True with probability per_mille / 1000.
  bool Chance(uint32_t per_mille) { return Below(1000) < per_mille; }

 private:
  uint64_t state_;
};

template <size_t N>
size_t Draw(Rng& rng, const std::array<uint32_t, N>& weights) {
  uint64_t total = 0;
  for (uint32_t w : weights) total += w;
  uint64_t r = rng.Next() % total;
  for (size_t i = 0; i < N; ++i) {
    if (r < weights[i]) return i;
    r -= weights[i];
  }
  return N - 1;
}

// Domain case weights (relative), index = DomainKind.
constexpr std::array<uint32_t, kDomainKindCount> kDomainWeights = {
    370,  // single
    180,  // multi
    60,   // shared provider: >= 1,000 domains of 40,000 in a 20k-host world
    20,   // null MX
    40,   // implicit MX
    30,   // NXDOMAIN
    10,   // SERVFAIL
    2,    // timeout
    15,   // no address
    15,   // partial dangling
    30,   // MX -> CNAME
    10,   // no MX
    10,   // big TXT
};

constexpr std::array<std::string_view, kDomainKindCount> kDomainKindNames = {
    "single_mx", "multi_mx", "shared_provider", "null_mx",    "implicit_mx",
    "nxdomain",  "servfail", "timeout",         "no_address", "partial_dangling",
    "mx_cname",  "no_mx",    "big_txt"};

std::string Hex(Rng& rng, int n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(kDigits[rng.Below(16)]);
  return s;
}

bool HasCert(const Host& h) { return Info(h.profile).cert_kind != CertKind::kNone; }

// Step 1: every host's profile. The first hosts go round-robin over every profile with a
// non-zero weight, so that small worlds still hold the whole catalogue.
void AssignProfiles(const WorldOptions& o, Rng& rng, std::vector<Host>& hosts) {
  std::vector<Profile> enabled;
  for (int p = 0; p < kProfileCount; ++p) {
    if (o.mix[p] > 0) enabled.push_back(static_cast<Profile>(p));
  }
  hosts.resize(o.hosts);
  for (uint32_t i = 0; i < o.hosts; ++i) {
    Host& h = hosts[i];
    h.index = i;
    h.ip = o.base + i + 1;
    h.profile = i < enabled.size() ? enabled[i] : static_cast<Profile>(Draw(rng, o.mix));
  }
}

struct Layout {
  std::vector<uint32_t> big;                     // the shared provider's hosts
  std::vector<std::vector<uint32_t>> providers;  // other providers
  std::vector<uint32_t> provider_hosts;          // all hosts of `providers`, in order
  std::vector<uint32_t> implicit;                // hosts named after an implicit-MX domain
  std::vector<uint32_t> cname_targets;           // hosts MX CNAMEs may point at
};

// Step 2: names. The last `implicit_count` hosts are named after implicit-MX domains (filled in
// later); the others form providers of 1-3 hosts, the first three after the round-robin prefix
// being the big shared provider.
Layout NameHosts(Rng& rng, std::vector<Host>& hosts, uint32_t implicit_count) {
  Layout l;
  const uint32_t n = static_cast<uint32_t>(hosts.size());
  const uint32_t normal = n - implicit_count;
  const uint32_t prefix = std::min<uint32_t>(normal, kProfileCount);
  uint32_t big_start = normal >= prefix + 3 ? prefix : 0;
  for (uint32_t i = big_start; i < std::min(normal, big_start + 3); ++i) l.big.push_back(i);
  for (size_t k = 0; k < l.big.size(); ++k) {
    hosts[l.big[k]].name = absl::StrCat("mx", k + 1, ".bigmail.", kLabZone);
  }
  uint32_t i = 0;
  int provider = 0;
  while (i < normal) {
    if (!l.big.empty() && i == l.big.front()) {
      i = l.big.back() + 1;
      continue;
    }
    uint32_t size = 1 + rng.Below(3);
    std::vector<uint32_t> members;
    ++provider;
    while (members.size() < size && i < normal && (l.big.empty() || i != l.big.front())) {
      hosts[i].name = absl::StrCat("mx", members.size() + 1, ".p", provider, ".", kLabZone);
      members.push_back(i);
      l.provider_hosts.push_back(i);
      ++i;
    }
    l.providers.push_back(std::move(members));
  }
  for (uint32_t j = normal; j < n; ++j) l.implicit.push_back(j);
  for (uint32_t h : l.provider_hosts) {
    if (hosts[h].profile == Profile::kModernTls13) l.cname_targets.push_back(h);
  }
  if (l.cname_targets.empty()) l.cname_targets = l.provider_hosts;
  return l;
}

// Picks items of a list in turn, so that every host gets referenced by some domain.
class Cycle {
 public:
  explicit Cycle(const std::vector<uint32_t>* items) : items_(items) {}
  bool empty() const { return items_->empty(); }
  uint32_t Next() { return (*items_)[pos_++ % items_->size()]; }

 private:
  const std::vector<uint32_t>* items_;
  size_t pos_ = 0;
};

void AddPolicies(Rng& rng, Domain& d) {
  const bool null_mx = d.kind == DomainKind::kNullMx;
  if (d.kind == DomainKind::kBigTxt || rng.Chance(600)) {
    TxtRecord spf;
    if (null_mx) {
      spf = {"v=spf1 -all"};
    } else if (rng.Chance(250)) {
      spf = {"v=spf1 mx include:spf.lab.test ", "ip4:127.20.0.0/16 ~all"};  // two strings
    } else {
      spf = {"v=spf1 mx include:spf.lab.test ~all"};
    }
    d.spf_index = static_cast<int>(d.apex_txt.size());
    d.apex_txt.push_back(std::move(spf));
  }
  if (rng.Chance(150)) d.apex_txt.push_back({"lab-site-verification=" + Hex(rng, 32)});
  if (rng.Chance(450)) {
    static constexpr std::array<std::string_view, 3> kPolicies = {"none", "quarantine", "reject"};
    d.dmarc_policy = std::string(kPolicies[rng.Below(3)]);
    std::string head = "v=DMARC1; p=" + d.dmarc_policy;
    std::string tail = "; rua=mailto:dmarc@" + d.name;
    d.dmarc = rng.Chance(250) ? TxtRecord{head, tail} : TxtRecord{head + tail};
  }
  if (rng.Chance(150)) d.mta_sts = TxtRecord{"v=STSv1; id=" + Hex(rng, 12) + ";"};
  if (rng.Chance(120)) d.tls_rpt = TxtRecord{"v=TLSRPTv1; rua=mailto:tlsrpt@" + d.name};
}

// Step 3: one domain of the given kind. Returns false when the world has no host for it.
bool FillDomain(Rng& rng, DomainKind kind, Layout& l, Cycle& single, Cycle& multi, Cycle& cname,
                std::vector<Host>& hosts, size_t& next_implicit, Domain& d) {
  d.kind = kind;
  switch (kind) {
    case DomainKind::kSingleMx:
      if (single.empty()) return false;
      {
        uint32_t h = single.Next();
        d.mx.push_back({hosts[h].name, 10, static_cast<int32_t>(h), false});
      }
      break;
    case DomainKind::kMultiMx: {
      if (multi.empty()) return false;
      const auto& members = l.providers[multi.Next()];
      bool same = rng.Chance(300);
      for (size_t k = 0; k < members.size(); ++k) {
        uint16_t pref = static_cast<uint16_t>(same ? 10 : 10 * (k + 1));
        d.mx.push_back({hosts[members[k]].name, pref, static_cast<int32_t>(members[k]), false});
      }
      break;
    }
    case DomainKind::kSharedProvider:
      if (l.big.empty()) return false;
      for (size_t k = 0; k < l.big.size(); ++k) {
        uint16_t pref = k < 2 ? 10 : 20;
        d.mx.push_back({hosts[l.big[k]].name, pref, static_cast<int32_t>(l.big[k]), false});
      }
      break;
    case DomainKind::kNullMx:
      d.mx.push_back({"", 0, -1, false});
      break;
    case DomainKind::kImplicitMx:
      if (next_implicit >= l.implicit.size()) return false;
      d.implicit_host = static_cast<int32_t>(l.implicit[next_implicit++]);
      hosts[d.implicit_host].name = d.name;
      break;
    case DomainKind::kNxDomain:
    case DomainKind::kServFail:
    case DomainKind::kTimeout:
    case DomainKind::kNoMx:
      break;
    case DomainKind::kNoAddress:
      d.mx.push_back({"mx." + d.name, 10, -1, false});
      break;
    case DomainKind::kPartialDangling: {
      if (single.empty()) return false;
      uint32_t h = single.Next();
      d.mx.push_back({"old-mx." + d.name, 10, -1, false});
      d.mx.push_back({hosts[h].name, 20, static_cast<int32_t>(h), false});
      break;
    }
    case DomainKind::kMxCname: {
      if (cname.empty()) return false;
      uint32_t h = cname.Next();
      d.mx.push_back({"mail." + d.name, 10, static_cast<int32_t>(h), true});
      hosts[h].aliases.push_back("mail." + d.name);
      break;
    }
    case DomainKind::kBigTxt:
      if (single.empty()) return false;
      {
        uint32_t h = single.Next();
        d.mx.push_back({hosts[h].name, 10, static_cast<int32_t>(h), false});
      }
      for (int k = 0; k < 5; ++k) {
        d.apex_txt.push_back({"lab-site-verification-" + std::to_string(k) + "=" + Hex(rng, 96)});
      }
      break;
  }
  switch (kind) {
    case DomainKind::kNxDomain:
    case DomainKind::kServFail:
    case DomainKind::kTimeout:
    case DomainKind::kNoAddress:
      break;
    case DomainKind::kNoMx:
      d.apex_txt.push_back({"lab-site-verification=" + Hex(rng, 32)});
      break;
    default:
      AddPolicies(rng, d);
  }
  return true;
}

}  // namespace

std::string_view DomainKindName(DomainKind k) { return kDomainKindNames[static_cast<size_t>(k)]; }

std::string Ipv4String(uint32_t ip) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255,
                ip & 255);
  return buf;
}

std::optional<uint32_t> ParseIpv4(std::string_view text) {
  std::string s(text);
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::string JoinTxt(const TxtRecord& txt) {
  std::string out;
  for (const auto& s : txt) out += s;
  return out;
}

// The wrong_name profile's certificate is for another existing name of the world.
void SetCertName(World& w, Host& h) {
  h.cert_name.clear();
  if (h.profile != Profile::kWrongName) return;
  const Host& other = w.hosts[(h.index + 1) % w.hosts.size()];
  h.cert_name = other.index != h.index ? other.name : std::string("other.") + kLabZone;
}

// Step 5 (optional): the world some time later (WorldOptions::drift_per_mille). Runs on its
// own generator, after everything else, so the undrifted parts are exactly the original world.
void ApplyDrift(const WorldOptions& o, World& w) {
  Rng rng(o.seed ^ (o.drift_seed * 0x9e3779b97f4a7c15ULL) ^ 0x6472696674ULL);  // "drift"
  const ProfileMix& mix = o.drift_mix.value_or(o.mix);
  for (Host& h : w.hosts) {
    if (!rng.Chance(o.drift_per_mille) || !h.aliases.empty()) continue;
    const Profile next = static_cast<Profile>(Draw(rng, mix));
    if (next == h.profile) continue;
    h.profile = next;
    SetCertName(w, h);
    if (!HasCert(h)) h.tlsa = TlsaKind::kNone;
  }
  for (Domain& d : w.domains) {
    const bool has_policies = d.kind != DomainKind::kNxDomain && d.kind != DomainKind::kServFail &&
                              d.kind != DomainKind::kTimeout && d.kind != DomainKind::kNoAddress &&
                              d.kind != DomainKind::kNoMx;
    if (!has_policies || !rng.Chance(o.drift_per_mille)) continue;
    if (rng.Chance(500)) {
      d.mta_sts = d.mta_sts
                      ? std::nullopt
                      : std::optional<TxtRecord>(TxtRecord{"v=STSv1; id=" + Hex(rng, 12) + ";"});
    } else {
      d.tls_rpt =
          d.tls_rpt
              ? std::nullopt
              : std::optional<TxtRecord>(TxtRecord{"v=TLSRPTv1; rua=mailto:tlsrpt@" + d.name});
    }
  }
}

absl::StatusOr<World> BuildWorld(const WorldOptions& o) {
  if (o.hosts == 0) return absl::InvalidArgumentError("--hosts must be at least 1");
  if (static_cast<uint64_t>(o.base) + o.hosts + 1 > 0x7fffffffULL || (o.base >> 24) != 127) {
    return absl::InvalidArgumentError(
        "--base + --hosts must stay inside 127.0.0.0/8 (the lab serves loopback only)");
  }
  uint64_t total = 0;
  for (uint32_t w : o.mix) total += w;
  if (total == 0) return absl::InvalidArgumentError("the profile mix has no positive weight");
  World w;
  w.options = o;
  Rng rng(o.seed ^ 0x6d78636c6162ULL);  // "mxclab": keeps seed 0 away from the zero state
  AssignProfiles(o, rng, w.hosts);

  const uint32_t m = o.domains.value_or(std::max<uint32_t>(2 * o.hosts, kDomainKindCount));
  std::vector<DomainKind> kinds(m);
  uint32_t implicit = 0;
  for (uint32_t j = 0; j < m; ++j) {
    kinds[j] = j < kDomainKindCount ? static_cast<DomainKind>(j)
                                    : static_cast<DomainKind>(Draw(rng, kDomainWeights));
    if (kinds[j] == DomainKind::kImplicitMx) ++implicit;
  }
  // Implicit-MX hosts are taken from the end of the host list, leaving the round-robin prefix
  // and at least 7/8 of the hosts to the providers.
  const uint32_t implicit_cap = o.hosts >= kProfileCount + 8 ? o.hosts / 8 : 0;
  implicit = std::min(implicit, implicit_cap);
  Layout layout = NameHosts(rng, w.hosts, implicit);

  std::vector<uint32_t> multi_providers;
  for (uint32_t k = 0; k < layout.providers.size(); ++k) {
    if (layout.providers[k].size() >= 2) multi_providers.push_back(k);
  }
  Cycle single(&layout.provider_hosts), multi(&multi_providers), cname(&layout.cname_targets);
  if (single.empty()) single = Cycle(&layout.big);
  size_t next_implicit = 0;
  w.domains.resize(m);
  for (uint32_t j = 0; j < m; ++j) {
    Domain& d = w.domains[j];
    d.name = absl::StrCat("d", j + 1, ".", kLabZone);
    if (!FillDomain(rng, kinds[j], layout, single, multi, cname, w.hosts, next_implicit, d)) {
      d = Domain{};
      d.name = absl::StrCat("d", j + 1, ".", kLabZone);
      // The world is too small for that case: a NXDOMAIN needs no host.
      FillDomain(rng, DomainKind::kNxDomain, layout, single, multi, cname, w.hosts, next_implicit,
                 d);
    }
  }
  // Implicit hosts left without a domain (capped draws) get a provider-style name of their own.
  for (size_t k = next_implicit; k < layout.implicit.size(); ++k) {
    w.hosts[layout.implicit[k]].name = absl::StrCat("mx1.solo", k + 1, ".", kLabZone);
  }
  // Certificates, DANE and IPv6 data. wrong_name hosts get the name of another host.
  for (Host& h : w.hosts) {
    SetCertName(w, h);
    // Some hosts also have AAAA ::1 (data only); the big provider's first MX always does, so
    // that every world has the case.
    h.aaaa = rng.Chance(50) || (!layout.big.empty() && h.index == layout.big.front());
    bool cname_target = !h.aliases.empty();
    if (HasCert(h) && !cname_target) {
      uint32_t r = rng.Below(1000);
      h.tlsa = r < 80    ? TlsaKind::kDaneEe
               : r < 120 ? TlsaKind::kDaneTa
               : r < 150 ? TlsaKind::kBoth
                         : TlsaKind::kNone;
    }
  }
  if (o.drift_per_mille > 0) ApplyDrift(o, w);
  return w;
}

}  // namespace mxcensus::lab
