#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mxcensus::probe {

// One line of ZGrab2-style probe input: "ip[,name[,tag]]". IPv4 or IPv6 (brackets allowed:
// "[2001:db8::1]"); surrounding spaces are trimmed; the name is lower-cased, a trailing dot
// dropped. Blank lines and lines starting with '#' give nullopt.
struct TargetLine {
  std::string ip;  // canonical text form
  std::string name;
  std::string tag;
};
absl::StatusOr<std::optional<TargetLine>> ParseTargetLine(std::string_view line);

// "10s", "500ms", "2m", "1.5s", or a bare number of seconds, as milliseconds (> 0, < 1 day).
absl::StatusOr<uint32_t> ParseDurationMs(std::string_view text);

}  // namespace mxcensus::probe
