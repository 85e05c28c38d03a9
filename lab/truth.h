#pragma once

#include <string>

#include "absl/status/status.h"
#include "common/domain_result.h"
#include "lab/pki.h"
#include "lab/world.h"
#include "nlohmann/json.hpp"

namespace mxcensus::lab {

// The ground truth of one host: the truth.jsonl host line (docs/lab.md "truth.jsonl").
nlohmann::ordered_json HostTruth(const World& world, const Pki& pki, size_t host);

// The DomainResult a correct resolver must produce for domain j (canonical order).
DomainResult DomainTruth(const World& world, const Pki& pki, size_t domain);
// The truth.jsonl domain line: {"kind":"domain"} + the fields of DomainResultToJson.
nlohmann::ordered_json DomainTruthJson(const World& world, const Pki& pki, size_t domain);

// Writes DIR/truth.jsonl, DIR/targets.csv and DIR/domains.txt (atomically, by rename).
absl::Status WriteWorldFiles(const std::string& dir, const World& world, const Pki& pki);

}  // namespace mxcensus::lab
