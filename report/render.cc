#include "report/render.h"

#include <filesystem>
#include <system_error>

#include "common/file_util.h"
#include "report/render_csv.h"
#include "report/render_html.h"
#include "report/render_json.h"
#include "report/render_text.h"

namespace mxcensus::report {

absl::StatusOr<Format> ParseFormat(std::string_view name) {
  if (name == "text") return Format::kText;
  if (name == "markdown" || name == "md") return Format::kMarkdown;
  if (name == "csv") return Format::kCsv;
  if (name == "json") return Format::kJson;
  if (name == "html") return Format::kHtml;
  return absl::InvalidArgumentError("--format: unknown format '" + std::string(name) +
                                    "' (text, markdown, csv, json or html)");
}

absl::Status WriteReport(const Report& report, Format format, const std::string& out_dir,
                         std::string* stdout_text, std::vector<std::string>* written) {
  if (out_dir.empty()) {
    switch (format) {
      case Format::kText:
        *stdout_text = RenderText(report);
        return absl::OkStatus();
      case Format::kMarkdown:
        *stdout_text = RenderMarkdown(report);
        return absl::OkStatus();
      case Format::kCsv:
        *stdout_text = RenderCsv(report);
        return absl::OkStatus();
      case Format::kJson:
        *stdout_text = RenderJson(report);
        return absl::OkStatus();
      case Format::kHtml:
        return absl::InvalidArgumentError("--format html writes a page: give --out DIR");
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return absl::InvalidArgumentError("--out " + out_dir + ": " + ec.message());
  auto write = [&](const std::string& name, const std::string& data) {
    const std::string path = (std::filesystem::path(out_dir) / name).string();
    if (auto s = WriteFileAtomically(path, data); !s.ok()) return s;
    written->push_back(path);
    return absl::OkStatus();
  };
  switch (format) {
    case Format::kText:
      return write("report.txt", RenderText(report));
    case Format::kMarkdown:
      return write("report.md", RenderMarkdown(report));
    case Format::kJson:
      return write("report.json", RenderJson(report));
    case Format::kHtml:
      return write("index.html", RenderHtml(report));
    case Format::kCsv:
      for (const Table& t : report.tables) {
        if (auto s = write(t.id + ".csv", RenderCsvTable(t)); !s.ok()) return s;
      }
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

}  // namespace mxcensus::report
