#include "common/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
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

absl::Status WriteFileAtomically(const std::string& path, const std::string& data, unsigned mode) {
  const std::string tmp = path + ".tmp";
  // Created with `mode` from the start (a private key is never readable by others, not even
  // between open and chmod); a stale tmp file from a crash is replaced.
  unlink(tmp.c_str());
  const int fd =
      open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<mode_t>(mode & 0600));
  FILE* f = fd < 0 ? nullptr : fdopen(fd, "wb");
  if (f == nullptr) {
    if (fd >= 0) close(fd);
    return absl::PermissionDeniedError("cannot write " + tmp + ": " + strerror(errno));
  }
  bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || chmod(tmp.c_str(), static_cast<mode_t>(mode)) != 0 ||
      std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError("cannot write " + path + ": " + strerror(errno));
  }
  return absl::OkStatus();
}

}  // namespace mxcensus
