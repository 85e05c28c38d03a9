#pragma once

// Reads what a crawl stored about its domains (crawl_domain, domain_mx, mx_host, probe,
// certificate) into DomainFacts for advise.

#include <cstdint>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "advise/facts.h"

namespace mxcensus::advise {

// The latest finished crawl (NotFound when there is none).
absl::StatusOr<int64_t> LatestFinishedCrawl(pqxx::connection& conn);

// The facts of every domain of the crawl, or of `domains` only (those not in the crawl are
// left out), in domain order.
absl::StatusOr<std::vector<DomainFacts>> LoadDomainFacts(pqxx::connection& conn, int64_t crawl_id,
                                                         const std::vector<std::string>& domains);

}  // namespace mxcensus::advise
