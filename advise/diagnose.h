#pragma once

// From a crawl's facts about a domain to the list of what falls short, with the evidence.
// Pure: no database, no I/O (the facts come from crawl_facts.h or from a test).

#include <string>
#include <string_view>
#include <vector>

#include "advise/facts.h"
#include "advise/knowledge.h"
#include "nlohmann/json.hpp"

namespace mxcensus::advise {

struct Diagnosis {
  Finding finding;
  std::string mx;  // "" for findings about the domain itself
  std::string ip;
  Software software = Software::kOther;  // detected on this host
  std::string observed;                  // one or two plain sentences with the evidence
  nlohmann::ordered_json evidence;       // the same facts, as fields
};

struct DomainAdvice {
  std::string domain;
  std::vector<Diagnosis> findings;
};

// The fix family for a name of the SQL function mxcensus_mta_software (kOther when it has no
// family of its own: qmail, other, unknown), so advise and the report's MTA table agree.
Software SoftwareFromSqlName(std::string_view name);

// Every finding for the domain, host findings in MX order then domain findings. A domain
// without findings meets every check: all its MX hosts offer STARTTLS with a current TLS
// version, a strong key exchange and a valid certificate for the MX name, and it publishes
// MTA-STS and TLS-RPT. Null-MX domains (no mail by design) get none.
DomainAdvice Diagnose(const DomainFacts& d);

}  // namespace mxcensus::advise
