#pragma once

#include <string>
#include <vector>

namespace mxcensus::testing {

struct CommandOutput {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// The built binary ($MXCENSUS_BIN, else this build's) and the source tree.
std::string MxcensusBin();
std::string SourceDir();

// Runs the built `mxcensus` binary ($MXCENSUS_BIN) with `args`; `stdin_text` is fed to it.
// `env` entries ("K=V") are added to the environment.
CommandOutput RunMxcensus(const std::vector<std::string>& args, const std::string& stdin_text = "",
                          const std::vector<std::string>& env = {});
// Runs any program (searched in PATH) the same way.
CommandOutput RunCommand(const std::vector<std::string>& argv, const std::string& stdin_text = "",
                         const std::vector<std::string>& env = {});

// A fresh directory under /tmp, removed with its contents when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes `content` to path()/name and returns the full path.
  std::string Write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path);
// Number of lines of `text` (a final line without newline counts).
int CountLines(const std::string& text);

}  // namespace mxcensus::testing
