#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "report/table.h"

namespace mxcensus::report {

enum class Format { kText, kMarkdown, kCsv, kJson, kHtml };

// "text" | "markdown" | "csv" | "json" | "html"; the error names the flag value.
absl::StatusOr<Format> ParseFormat(std::string_view name);

// Writes the report in `format`. With an empty `out_dir` it goes to `*stdout_text` (not
// allowed for html, which needs a directory). With a directory (created when missing), each
// format writes its files there: report.txt, report.md, report.json, one <table id>.csv per
// table, or index.html; `*written` gets the paths written, in order.
absl::Status WriteReport(const Report& report, Format format, const std::string& out_dir,
                         std::string* stdout_text, std::vector<std::string>* written);

}  // namespace mxcensus::report
