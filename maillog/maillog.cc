#include "maillog/maillog.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/fn_deleter.h"
#include "maillog/envelope.h"

namespace mxcensus::maillog {
namespace {

// Longer lines are cut here and counted malformed: a log line is a few hundred bytes.
constexpr size_t kMaxLine = 64 * 1024;
// Lines looked at to detect a file's format.
constexpr int kDetectLines = 500;

using GzFile = std::unique_ptr<gzFile_s, FnDeleter<gzclose>>;

// Reads lines of a plain or gzip file (zlib reads plain files transparently).
class LineReader {
 public:
  static absl::StatusOr<LineReader> Open(const std::string& path) {
    gzFile f = path == "-" ? gzdopen(dup(0), "rb") : gzopen(path.c_str(), "rb");
    if (f == nullptr) {
      return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
    }
    return LineReader(path, GzFile(f));
  }

  // Next line without its "\n" / "\r\n" (NUL bytes and all: gzgets would stop at a NUL).
  // False at the end; *error set on a read error.
  bool Next(std::string* line, bool* overlong, absl::Status* error) {
    line->clear();
    *overlong = false;
    bool any = false;
    while (true) {
      if (pos_ == len_) {
        int n = gzread(file_.get(), buf_.data(), buf_.size());
        if (n < 0) {
          int err = 0;
          *error = absl::DataLossError(absl::StrCat(path_, ": ", gzerror(file_.get(), &err)));
          return false;
        }
        if (n == 0) break;
        pos_ = 0;
        len_ = static_cast<size_t>(n);
      }
      any = true;
      const char* begin = buf_.data() + pos_;
      const char* nl = static_cast<const char*>(std::memchr(begin, '\n', len_ - pos_));
      size_t take = nl ? static_cast<size_t>(nl - begin) : len_ - pos_;
      if (line->size() + take > kMaxLine) *overlong = true;
      line->append(begin, std::min(take, kMaxLine - line->size()));
      pos_ += take + (nl ? 1 : 0);
      if (nl) break;
    }
    if (!line->empty() && line->back() == '\r') line->pop_back();
    return any;
  }

 private:
  LineReader(std::string path, GzFile f) : path_(std::move(path)), file_(std::move(f)) {}
  std::string path_;
  GzFile file_;
  std::array<char, 64 * 1024> buf_{};
  size_t pos_ = 0;
  size_t len_ = 0;
};

// The rotation key of a path: (base, order), lower order is older.
std::pair<std::string, int64_t> RotationKey(std::string path) {
  if (std::string_view(path).ends_with(".gz")) path.resize(path.size() - 3);
  size_t dot = path.rfind('.'), slash = path.rfind('/');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash) &&
      dot + 1 < path.size() &&
      std::all_of(path.begin() + dot + 1, path.end(), [](char c) { return std::isdigit(c); }) &&
      path.size() - dot <= 5) {
    return {path.substr(0, dot), -std::stoll(path.substr(dot + 1))};
  }
  size_t dash = path.rfind('-');
  if (dash != std::string::npos && path.size() - dash == 9 &&
      std::all_of(path.begin() + dash + 1, path.end(), [](char c) { return std::isdigit(c); })) {
    return {path.substr(0, dash), std::stoll(path.substr(dash + 1)) - (int64_t{1} << 40)};
  }
  return {path, 0};
}

std::unique_ptr<FormatParser> MakeParser(Format f, const ParseOptions& p, Collector* c) {
  switch (f) {
    case Format::kPostfix:
      return MakePostfixParser(p, c);
    case Format::kExim:
      return MakeEximParser(p, c);
    case Format::kSendmail:
      return MakeSendmailParser(p, c);
    case Format::kAuto:
      break;
  }
  return nullptr;
}

// The format with the most evidence in the file's first lines (kAuto when there is none).
absl::StatusOr<Format> Detect(const std::string& path) {
  auto reader = LineReader::Open(path);
  if (!reader.ok()) return reader.status();
  std::array<int, 4> votes{};
  std::string line;
  bool overlong = false;
  absl::Status error;
  for (int i = 0; i < kDetectLines && reader->Next(&line, &overlong, &error); ++i) {
    ++votes[static_cast<int>(LineFormat(line))];
  }
  if (!error.ok()) return error;
  votes[0] = 0;
  auto best = std::max_element(votes.begin(), votes.end());
  return *best == 0 ? Format::kAuto : static_cast<Format>(best - votes.begin());
}

void Count(LineStats* s, const LineResult& r, const std::string& where, std::string_view line,
           size_t max_samples) {
  switch (r.fate) {
    case Fate::kUsed:
      ++s->used;
      return;
    case Fate::kIgnored:
      ++s->ignored;
      return;
    case Fate::kBeforeSince:
      ++s->before_since;
      return;
    case Fate::kUnparsed:
      ++s->unparsed;
      break;
    case Fate::kMalformed:
      ++s->malformed;
      break;
  }
  if (s->samples.size() < max_samples) {
    std::string text(line.substr(0, 200));
    for (char& c : text) {
      // Samples go to terminals and JSON: ASCII only (a log line may hold any bytes).
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
    }
    s->samples.push_back(absl::StrCat(where, ": ", std::string(r.reason), ": ", text));
  }
}

}  // namespace

std::string_view FormatName(Format f) {
  switch (f) {
    case Format::kPostfix:
      return "postfix";
    case Format::kExim:
      return "exim";
    case Format::kSendmail:
      return "sendmail";
    case Format::kAuto:
      break;
  }
  return "unknown";
}

absl::StatusOr<Format> ParseFormat(std::string_view name) {
  for (Format f : {Format::kAuto, Format::kPostfix, Format::kExim, Format::kSendmail}) {
    if (name == (f == Format::kAuto ? "auto" : FormatName(f))) return f;
  }
  return absl::InvalidArgumentError(absl::StrCat("--format: '", std::string(name),
                                                 "' is not one of auto, postfix, exim, sendmail"));
}

Format LineFormat(std::string_view line) {
  if (auto sl = ParseSyslog(line, 2000)) {
    if (Contains(sl->program, "postfix")) return Format::kPostfix;
    if (sl->program == "sendmail" || sl->program == "sm-mta") return Format::kSendmail;
    if (std::string_view(sl->program).starts_with("exim")) return Format::kExim;
    return Format::kAuto;
  }
  if (ParseEximEnvelope(line)) return Format::kExim;
  return Format::kAuto;
}

std::vector<std::string> RotationOrder(const std::vector<std::string>& files) {
  std::vector<std::string> out = files;
  // Stable: files of different bases keep the order of their first appearance.
  std::vector<std::string> bases;
  for (const auto& f : files) {
    auto b = RotationKey(f).first;
    if (std::find(bases.begin(), bases.end(), b) == bases.end()) bases.push_back(b);
  }
  std::stable_sort(out.begin(), out.end(), [&](const std::string& a, const std::string& b) {
    auto ka = RotationKey(a), kb = RotationKey(b);
    auto ia = std::find(bases.begin(), bases.end(), ka.first) - bases.begin();
    auto ib = std::find(bases.begin(), bases.end(), kb.first) - bases.begin();
    return ia != ib ? ia < ib : ka.second < kb.second;
  });
  return out;
}

absl::StatusOr<Observations> ReadLogs(const std::vector<std::string>& files,
                                      const ReadOptions& opts) {
  Observations obs;
  Collector collector(&obs);
  std::array<std::unique_ptr<FormatParser>, 4> parsers;
  for (const std::string& path : RotationOrder(files)) {
    Format format = opts.format;
    if (format == Format::kAuto && path != "-") {
      auto d = Detect(path);
      if (!d.ok()) return d.status();
      format = *d;
    } else if (format == Format::kAuto) {
      return absl::InvalidArgumentError("-: give --format when reading standard input");
    }
    FileInfo info{path, std::string(FormatName(format)), 0};
    auto& parser = parsers[static_cast<int>(format)];
    if (!parser && format != Format::kAuto) parser = MakeParser(format, opts.parse, &collector);
    auto reader = LineReader::Open(path);
    if (!reader.ok()) return reader.status();
    std::string line;
    bool overlong = false;
    absl::Status error;
    while (reader->Next(&line, &overlong, &error)) {
      ++info.lines;
      ++obs.lines.total;
      LineResult r = overlong ? LineResult{Fate::kMalformed, "line longer than 64 KiB"}
                     : parser ? parser->Feed(line)
                              : LineResult{Fate::kUnparsed, "format not recognised"};
      Count(&obs.lines, r, absl::StrCat(path, ":", info.lines), line, opts.max_samples);
    }
    if (!error.ok()) return error;
    obs.files.push_back(std::move(info));
  }
  return obs;
}

}  // namespace mxcensus::maillog
