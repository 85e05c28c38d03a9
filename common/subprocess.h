#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mxcensus {

struct ProcessResult {
  int exit_code = -1;  // exit status, or 128 + signal number
  std::string output;  // stdout and stderr together, when captured
};

// Runs argv[0] (searched in PATH) with argv, waits for it, and returns its exit code and
// combined output. Standard input is /dev/null. Fails only if the program cannot be started.
absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                         bool capture_output = true);

}  // namespace mxcensus
