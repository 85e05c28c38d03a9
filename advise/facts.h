#pragma once

// What a crawl knows about a domain, as advise needs it: the domain's DNS state and policy
// records, its MX hosts and, for each address probed, the probe's observations.

#include <optional>
#include <string>
#include <vector>

namespace mxcensus::advise {

struct HostFacts {
  std::string ip;
  int port = 25;
  std::string outcome;  // the probe_outcome name (DESIGN.md "Outcomes")
  std::string stage;
  std::string error;
  std::string banner;
  std::vector<std::string> ehlo;
  std::string mta_software;  // mxcensus_mta_software(banner, ehlo): postfix, exim, ...
  int code_banner = 0;
  int code_starttls = 0;
  bool pipelined_after_starttls = false;
  bool handshake_complete = false;
  std::string tls_version, tls_cipher, tls_group, tls_alert;
  int dh_bits = 0;
  std::optional<bool> chain_valid;
  std::optional<bool> name_match;
  std::string verify_error;
  // The leaf certificate, when one was seen.
  std::string subject, issuer, not_before, not_after;
  std::vector<std::string> sans;
  // The SQL function mxcensus_cert_verdict's verdict ("" when nothing was verified): advise
  // names a certificate problem exactly as the views and the report count it.
  std::string cert_verdict;
};

struct MxFacts {
  std::string name;
  int preference = 0;
  std::string status;  // dns_status of the MX name
  std::vector<HostFacts> hosts;
};

struct DomainFacts {
  std::string domain;
  std::string status;  // dns_status of the domain
  bool null_mx = false;
  bool implicit_mx = false;
  std::string mta_sts;  // the TXT record, "" when absent
  std::string tls_rpt;
  std::vector<MxFacts> mx;
};

}  // namespace mxcensus::advise
