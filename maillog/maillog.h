#pragma once

// Reading mail logs: files in rotation order (oldest first), plain or gzip-compressed, each
// routed to the parser of its format (given, or detected from its first lines).

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "maillog/format_parser.h"
#include "maillog/observations.h"

namespace mxcensus::maillog {

struct ReadOptions {
  Format format = Format::kAuto;
  ParseOptions parse;
  size_t max_samples = 5;  // unparsed/malformed lines reported in LineStats::samples
};

// Orders rotated files oldest first, keeping the order of unrelated files: "maillog.2.gz",
// "maillog.1", "maillog" (a higher ".N" is older), "maillog-20261120.gz" before
// "maillog-20261127" before "maillog".
std::vector<std::string> RotationOrder(const std::vector<std::string>& files);

// Reads every file ("-" = standard input) into observations. Errors are our own failures only
// (a file that cannot be opened or decompressed), naming the file; bad lines are counted.
absl::StatusOr<Observations> ReadLogs(const std::vector<std::string>& files,
                                      const ReadOptions& opts);

// Parses --format.
absl::StatusOr<Format> ParseFormat(std::string_view name);

}  // namespace mxcensus::maillog
