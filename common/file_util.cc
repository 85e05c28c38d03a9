#include "common/file_util.h"

#include <fstream>
#include <sstream>

#include "absl/status/status.h"

namespace mxcensus {

absl::StatusOr<std::string> ReadWholeFile(std::string_view what, const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return absl::InvalidArgumentError(std::string(what) + ": cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return absl::InvalidArgumentError(std::string(what) + ": error reading " + path);
  return ss.str();
}

}  // namespace mxcensus
