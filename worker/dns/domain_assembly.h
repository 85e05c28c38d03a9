#pragma once

// The decisions of the DNS stage, as pure functions: how a c-ares outcome is classified, how an
// MX name's A/AAAA/TLSA lookups become an MxHost, and how a domain's MX, host and policy lookups
// become its DomainResult (status, null/implicit MX, canonical order). No I/O: unit-tested in
// tests/unit/dns/domain_assembly_test.cc; worker/dns/resolver.cc feeds it.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/domain_result.h"
#include "worker/dns/dns_message.h"

namespace mxcensus::dns {

// What one lookup yielded.
enum class LookupKind : uint8_t {
  kRecords,    // NOERROR with records of the type (after CNAMEs)
  kNoData,     // NOERROR without records of the type
  kNxDomain,   // the name does not exist
  kServFail,   // SERVFAIL, or a response we could not use (FORMERR, NOTIMP, malformed)
  kRefused,    // REFUSED
  kTimeout,    // no response after every try, or every resolver unreachable
  kBadName,    // c-ares rejected the name locally
  kCancelled,  // the resolver shut down
};
std::string_view LookupKindName(LookupKind kind);
LookupKind ClassifyAresStatus(int ares_status);
// True for the kinds that say nothing about the name (worth a retry later, not cached).
bool IsTransient(LookupKind kind);

// An A or AAAA lookup, parsed.
struct AddressLookup {
  LookupKind kind = LookupKind::kCancelled;
  AddressAnswer answer;
};

// Classifies and parses an address reply of `type` for `qname`.
AddressLookup ParseAddressReply(int ares_status, std::span<const uint8_t> msg,
                                const std::string& qname, uint16_t type);

// A TLSA lookup at _25._tcp.<host>, parsed.
struct TlsaLookup {
  LookupKind kind = LookupKind::kCancelled;
  std::vector<TlsaRecord> records;
  bool ad = false;  // the AD bit of a NOERROR response (answer or authenticated denial)
};
TlsaLookup ParseTlsaReply(int ares_status, std::span<const uint8_t> msg, const std::string& qname);

// Everything learnt about one MX name; shared by every domain that uses it.
struct HostInfo {
  std::vector<std::string> ipv4;
  std::vector<std::string> ipv6;
  std::optional<std::string> cname;
  DnsStatus status = DnsStatus::kOk;
  std::vector<TlsaRecord> tlsa;
  bool tlsa_ad = false;
  std::vector<std::string> notes;  // failed side lookups (TLSA), for DomainResult::error
  bool cacheable = true;           // false when a lookup failed transiently
};

// `aaaa` is nullopt when AAAA was not asked (want_ipv6 off).
HostInfo AssembleHost(const std::string& name, const AddressLookup& a,
                      const std::optional<AddressLookup>& aaaa, const TlsaLookup& tlsa);

// The MX lookup of a domain, parsed.
struct MxLookup {
  LookupKind kind = LookupKind::kCancelled;
  std::vector<MxRecord> records;
};
MxLookup ParseMxReply(int ares_status, std::span<const uint8_t> msg, const std::string& qname);

// What the MX answer asks for next.
struct MxPlan {
  enum class Route { kHosts, kImplicit, kNullMx, kTerminal } route = Route::kTerminal;
  std::vector<MxRecord> hosts;  // kHosts: the MX names to look up (kImplicit: the domain, pref 0)
  DnsStatus terminal = DnsStatus::kServFail;  // kTerminal: the domain's status
  std::vector<std::string> notes;
};
MxPlan PlanFromMx(const std::string& domain, const MxLookup& mx);

// The policy TXT lookups of a domain, in this order: domain (SPF), _dmarc, _mta-sts, _smtp._tls.
inline constexpr int kPolicyLookups = 4;
std::array<std::string, kPolicyLookups> PolicyQueryNames(const std::string& domain);
struct TxtLookup {
  LookupKind kind = LookupKind::kCancelled;
  std::vector<std::string> txts;
};
TxtLookup ParseTxtReply(int ares_status, std::span<const uint8_t> msg, const std::string& qname);

// Builds the final result. `hosts[i]` is the info of `plan.hosts[i]`. Sets status, mx (sorted by
// preference then name), null/implicit flags, policy records and `error` (notes joined by "; ").
void AssembleDomain(const MxPlan& plan, const std::vector<const HostInfo*>& hosts,
                    const std::array<TxtLookup, kPolicyLookups>& policy, DomainResult* result);

}  // namespace mxcensus::dns
