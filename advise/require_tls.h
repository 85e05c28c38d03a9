#pragma once

// `advise --require-tls`: if inbound STARTTLS were mandatory today, which correspondents would
// bounce? From the maillog observations (inbound messages without TLS) and, when a crawl is
// at hand, whether the correspondent's own MX offers STARTTLS (a hint of its TLS support).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "advise/facts.h"
#include "maillog/observations.h"
#include "nlohmann/json.hpp"

namespace mxcensus::advise {

struct RequireTlsRow {
  std::string domain;
  int64_t messages_in = 0;
  int64_t messages_plain = 0;  // would bounce
  int64_t sessions_in = 0;
  int64_t sessions_plain = 0;
  std::string mx_starttls;  // their MX per the crawl: "all", "some", "none", "unknown"
};

struct RequireTlsResult {
  int64_t domains_in = 0;         // correspondents that sent us mail
  int64_t domains_bouncing = 0;   // ... some of whose mail would bounce
  int64_t domains_all_plain = 0;  // ... all of whose mail would bounce
  int64_t messages_in = 0;
  int64_t messages_bouncing = 0;
  std::vector<RequireTlsRow> rows;  // bouncing domains, most messages first
};

RequireTlsResult SimulateRequireTls(const std::map<std::string, maillog::DomainStats>& obs,
                                    const std::vector<DomainFacts>& crawl);
nlohmann::ordered_json RequireTlsToJson(const RequireTlsResult& r);
std::string RequireTlsText(const RequireTlsResult& r, bool markdown);

}  // namespace mxcensus::advise
