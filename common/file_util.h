#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mxcensus {

// The whole file. The error names `what` (the flag or setting that gave the path) and the path.
absl::StatusOr<std::string> ReadWholeFile(std::string_view what, const std::string& path);

}  // namespace mxcensus
