#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/domain_result.h"
#include "common/probe_result.h"
#include "nlohmann/json.hpp"

namespace mxcensus {

// The public JSON forms of results (docs/result-schema.md). Field names change only additively.
nlohmann::json ProbeResultToJson(const ProbeResult& r);
// Appends the same object as ProbeResultToJson(r).dump(-1, ' ', false, error_handler_t::replace)
// byte for byte (keys sorted, control characters escaped, invalid UTF-8 replaced by U+FFFD),
// without building the nlohmann tree: the hot path of `mxcensus probe` (a quarter of a million
// instructions per result less). tests/unit/common/result_json_test.cc compares the two.
void AppendProbeResultJson(const ProbeResult& r, std::string* out);
absl::StatusOr<ProbeResult> ProbeResultFromJson(const nlohmann::json& j);

nlohmann::json DomainResultToJson(const DomainResult& r);
absl::StatusOr<DomainResult> DomainResultFromJson(const nlohmann::json& j);

// RFC 3339 UTC with milliseconds ("2026-11-28T12:00:00.123Z") and seconds ("...:00Z").
std::string FormatTimeMs(int64_t unix_ms);
std::string FormatTimeS(int64_t unix_s);
absl::StatusOr<int64_t> ParseTimeMs(const std::string& text);

std::string Base64Encode(std::string_view bytes);
absl::StatusOr<std::string> Base64Decode(std::string_view text);
std::string HexEncode(std::string_view bytes);

}  // namespace mxcensus
