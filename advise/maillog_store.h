#pragma once

// The maillog tables (migration 0004): `maillog --db` stores an import, `advise --require-tls
// --db` reads the latest one back.

#include <cstdint>
#include <map>
#include <pqxx/pqxx>
#include <string>

#include "absl/status/statusor.h"
#include "maillog/observations.h"

namespace mxcensus::advise {

// Stores one import (all its domains in one transaction); returns its import_id.
// `crawl_id` 0 = not tied to a crawl.
absl::StatusOr<int64_t> StoreObservations(pqxx::connection& conn, const maillog::Observations& obs,
                                          int64_t crawl_id);

// The per-domain observations of the latest import (NotFound when there is none).
absl::StatusOr<std::map<std::string, maillog::DomainStats>> LoadLatestObservations(
    pqxx::connection& conn);

}  // namespace mxcensus::advise
