#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/outcome.h"

namespace mxcensus {

struct TlsaRecord {
  uint8_t usage = 0;
  uint8_t selector = 0;
  uint8_t matching_type = 0;
  std::string data_hex;  // lower-case hex of the certificate association data
};

// One MX host of a domain, with its addresses and DANE records.
struct MxHost {
  std::string name;
  uint16_t preference = 0;
  std::vector<std::string> ipv4;
  std::vector<std::string> ipv6;
  std::optional<std::string> cname;  // the alias target when the MX name is a CNAME
  DnsStatus status = DnsStatus::kOk;  // of the address lookups of this name
  std::vector<TlsaRecord> tlsa;
  bool tlsa_ad = false;
};

struct PolicyRecords {
  std::optional<std::string> mta_sts;  // the joined TXT at _mta-sts.<d> starting v=STSv1
  std::optional<std::string> tls_rpt;  // _smtp._tls.<d>, v=TLSRPTv1
  std::optional<std::string> spf;      // <d> TXT v=spf1
  std::optional<std::string> dmarc;    // _dmarc.<d>, v=DMARC1
  std::optional<std::string> dmarc_policy;  // p= of the DMARC record
};

// One domain's DNS picture: the `resolve` JSON line, a crawl_domain row (+ domain_mx rows).
struct DomainResult {
  std::string domain;
  DnsStatus status = DnsStatus::kOk;
  std::vector<MxHost> mx;  // sorted by preference, then name
  bool null_mx = false;
  bool implicit_mx = false;
  PolicyRecords policy;
  std::optional<std::string> error;
  int64_t resolved_at_ms = 0;
  int64_t rank = 0;
};

}  // namespace mxcensus
