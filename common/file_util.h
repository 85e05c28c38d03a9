#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mxcensus {

// The whole file. The error names `what` (the flag or setting that gave the path) and the path.
absl::StatusOr<std::string> ReadWholeFile(std::string_view what, const std::string& path);

// Writes `data` to path.tmp, sets `mode`, then renames it over `path`: readers never see a
// half-written file. The error names the path.
absl::Status WriteFileAtomically(const std::string& path, const std::string& data,
                                 unsigned mode = 0644);

}  // namespace mxcensus
