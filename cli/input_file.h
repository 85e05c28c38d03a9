#pragma once

#include <CLI/CLI.hpp>

namespace mxcensus::cli {

// A CLI11 validator for input files: '-' (standard input) or an existing, readable file.
// A missing file is a usage error naming the file.
inline CLI::Validator InputFile() {
  return CLI::Validator(
      [](std::string& path) -> std::string {
        if (path == "-") return {};
        return CLI::ExistingFile(path);
      },
      "FILE|-", "InputFile");
}

}  // namespace mxcensus::cli
