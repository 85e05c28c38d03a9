#pragma once

// Selection of the mail policy records among a name's TXT records, and DMARC tag parsing.
// Pure functions (no DNS I/O).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mxcensus::dns {

enum class PolicyKind {
  kSpf,     // <domain> TXT, "v=spf1" then SP or end, case-insensitive (RFC 7208 §4.5)
  kDmarc,   // _dmarc.<domain> TXT, first tag v=DMARC1 (RFC 7489 §6.4)
  kMtaSts,  // _mta-sts.<domain> TXT, starts with "v=STSv1" (RFC 8461 §3.1, case-sensitive)
  kTlsRpt,  // _smtp._tls.<domain> TXT, starts with "v=TLSRPTv1" (RFC 8460 §3, case-sensitive)
};

std::string_view PolicyKindName(PolicyKind kind);  // "SPF", "DMARC", "MTA-STS", "TLS-RPT"

// True when the joined TXT string `txt` is a record of `kind`.
bool IsPolicyRecord(PolicyKind kind, std::string_view txt);

struct PolicySelection {
  std::optional<std::string> record;  // the selected record, if any matched
  int matches = 0;                    // how many TXT records matched
};

// Picks the record of `kind` among `txts`. With several matches (an error for every one of these
// record types: SPF permerror, DMARC/MTA-STS/TLS-RPT "no record") the lexicographically smallest
// is kept, so that the choice does not depend on the resolver's RRset order; the caller notes
// `matches > 1` in the result's error.
PolicySelection SelectPolicy(PolicyKind kind, const std::vector<std::string>& txts);

// The value of the DMARC `p=` tag, trimmed and lower-cased; nullopt when the record has none.
std::optional<std::string> DmarcPolicy(std::string_view record);

}  // namespace mxcensus::dns
