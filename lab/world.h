#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lab/profiles.h"

namespace mxcensus::lab {

// The zone every lab name lives under.
inline constexpr char kLabZone[] = "lab.test";

struct WorldOptions {
  uint32_t hosts = 1000;
  uint64_t seed = 1;
  ProfileMix mix = DefaultMix();
  std::optional<uint32_t> domains;  // default: max(2 * hosts, kDomainKindCount)
  uint32_t base = 0x7f140000;       // 127.20.0.0, host byte order; host i is at base + i + 1
  uint16_t port = 2525;
  // Drift: the same world some time later. drift_per_mille of the hosts (not CNAME targets,
  // whose certificate must cover the alias) get a new profile drawn from drift_mix, and as many
  // domains gain or lose an MTA-STS or TLS-RPT record. Deterministic by seed and drift_seed;
  // names, addresses and domain cases stay the same.
  uint32_t drift_per_mille = 0;
  uint64_t drift_seed = 1;
  std::optional<ProfileMix> drift_mix;  // default: `mix`
};

// The DNS cases of the world (docs/lab.md "Domain cases").
enum class DomainKind : uint8_t {
  kSingleMx,         // one MX
  kMultiMx,          // a provider's 2-3 MX with preferences
  kSharedProvider,   // the MX set of the one big provider (bigmail.lab.test)
  kNullMx,           // MX 0 .
  kImplicitMx,       // no MX; an A record (host named like the domain)
  kNxDomain,         // the name does not exist
  kServFail,         // every query under the name gets SERVFAIL
  kTimeout,          // every query under the name is dropped
  kNoAddress,        // the only MX name has no address
  kPartialDangling,  // one MX without address, one good
  kMxCname,          // the MX name is a CNAME to a host name
  kNoMx,             // the name exists, neither MX nor address
  kBigTxt,           // apex TXT RRset > 512 bytes: TC over UDP without EDNS
};
inline constexpr int kDomainKindCount = 13;
std::string_view DomainKindName(DomainKind k);

enum class TlsaKind : uint8_t { kNone, kDaneEe, kDaneTa, kBoth };

struct Host {
  uint32_t index = 0;
  uint32_t ip = 0;  // host byte order
  std::string name;
  Profile profile = Profile::kModernTls13;
  // Extra names the certificate covers (CNAME aliases pointing at this host).
  std::vector<std::string> aliases;
  // The name the certificate is for ("" = `name`); set for the wrong_name profile.
  std::string cert_name;
  bool aaaa = false;  // also has AAAA ::1 (data only: nothing listens there)
  TlsaKind tlsa = TlsaKind::kNone;
};

using TxtRecord = std::vector<std::string>;  // one TXT RR: its character-strings

struct MxRef {
  std::string name;
  uint16_t preference = 10;
  int32_t host = -1;       // the host the name (or its CNAME target) resolves to; -1: none
  bool via_cname = false;  // `name` is a CNAME to hosts[host].name
};

struct Domain {
  std::string name;
  DomainKind kind = DomainKind::kSingleMx;
  std::vector<MxRef> mx;  // as published (null MX: one entry with name "" and preference 0)
  int32_t implicit_host = -1;
  std::vector<TxtRecord> apex_txt;  // SPF and unrelated TXT at the apex
  int spf_index = -1;               // which apex_txt is the SPF record, -1 none
  std::optional<TxtRecord> mta_sts, tls_rpt, dmarc;
  std::string dmarc_policy;
};

struct World {
  WorldOptions options;
  std::vector<Host> hosts;
  std::vector<Domain> domains;
};

// Builds the world deterministically from the options (same options, same world).
absl::StatusOr<World> BuildWorld(const WorldOptions& options);

// "127.20.0.5" for a host-order address.
std::string Ipv4String(uint32_t ip);
// Parses a dotted quad into host order.
std::optional<uint32_t> ParseIpv4(std::string_view text);
// The joined text of a TXT record (character-strings concatenated without separators).
std::string JoinTxt(const TxtRecord& txt);

}  // namespace mxcensus::lab
