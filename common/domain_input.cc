#include "common/domain_input.h"

#include <idn2.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <memory>
#include <vector>

namespace mxcensus {
namespace {

constexpr size_t kMaxLineBytes = 4096;
constexpr size_t kMaxErrorText = 200;

struct IdnFree {
  void operator()(char* p) const { idn2_free(p); }
};
using IdnString = std::unique_ptr<char, IdnFree>;

// Debian's abseil has its own string_view, so the few string helpers needed here are local.
std::string_view Strip(std::string_view s) {
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
  };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool ParseInt(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

template <typename... Parts>
std::string Cat(const Parts&... parts) {
  std::string out;
  (out.append(std::string_view(parts)), ...);
  return out;
}

bool IsAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

absl::Status Invalid(std::string_view reason) {
  return absl::InvalidArgumentError(std::string(reason));
}

// Checks that an `xn--` label is a real A-label: it decodes, and encoding the decoded U-label
// gives the same label back (rejects garbage punycode and non-canonical encodings).
absl::Status CheckALabel(const std::string& label) {
  char* raw = nullptr;
  if (idn2_to_unicode_8z8z(label.c_str(), &raw, 0) != IDN2_OK) {
    return Invalid(Cat("invalid A-label '", label, "'"));
  }
  IdnString unicode(raw);
  char* back = nullptr;
  int rc = idn2_to_ascii_8z(unicode.get(), &back, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
  IdnString back_owned(back);
  if (rc != IDN2_OK || label != back) {
    return Invalid(Cat("invalid A-label '", label, "'"));
  }
  return absl::OkStatus();
}

absl::Status CheckLabel(const std::string& label) {
  if (label.empty()) return Invalid("empty label");
  if (label.size() > 63) return Invalid("label longer than 63 octets");
  for (char c : label) {
    if (!(IsAlnum(c) || c == '-')) {
      if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) {
        return Invalid("invalid character in name");
      }
      return Invalid(Cat("invalid character '", std::string(1, c), "' in name"));
    }
  }
  if (label.front() == '-' || label.back() == '-') {
    return Invalid("label starts or ends with a hyphen");
  }
  if (label.size() >= 4 && label[2] == '-' && label[3] == '-') {
    if (label.compare(0, 4, "xn--") != 0)
      return Invalid("reserved label form (hyphens in positions 3 and 4)");
    return CheckALabel(label);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> NormaliseDomain(std::string_view raw) {
  std::string_view s = Strip(raw);
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  if (s.empty()) return Invalid("empty name");
  if (s.size() > 1024) return Invalid("name too long");
  std::string name;
  if (IsAscii(s)) {
    name = Lower(s);
  } else {
    char* out = nullptr;
    std::string input(s);
    int rc = idn2_to_ascii_8z(input.c_str(), &out, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    IdnString owned(out);
    if (rc != IDN2_OK) {
      return Invalid(Cat("not a valid internationalised name (", idn2_strerror(rc), ")"));
    }
    name = Lower(owned.get());
    // UTS#46 maps ideographic full stops to '.', so a trailing one appears only now.
    if (!name.empty() && name.back() == '.') name.pop_back();
  }
  if (name.size() > 253) return Invalid("name longer than 253 octets");
  std::vector<std::string> labels;
  for (size_t start = 0;;) {
    size_t dot = name.find('.', start);
    labels.push_back(
        name.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  for (const auto& label : labels) {
    if (auto st = CheckLabel(label); !st.ok()) return st;
  }
  if (labels.size() < 2) return Invalid("single-label name");
  const std::string& tld = labels.back();
  if (std::all_of(tld.begin(), tld.end(), [](char c) { return IsDigit(c); })) {
    return Invalid("numeric top-level label (an IP address?)");
  }
  return name;
}

DomainListReader::DomainListReader(std::istream& in, std::string file_name, ErrorFn on_error)
    : in_(in), file_name_(std::move(file_name)), on_error_(std::move(on_error)) {}

DomainListReader::LineRead DomainListReader::ReadLine(std::string* line) {
  line->clear();
  std::streambuf* buf = in_.rdbuf();
  bool any = false;
  bool too_long = false;
  for (;;) {
    int c = buf->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      in_.setstate(std::ios::eofbit);
      break;
    }
    any = true;
    if (c == '\n') break;
    if (line->size() < kMaxLineBytes) {
      line->push_back(static_cast<char>(c));
    } else {
      too_long = true;
    }
  }
  if (!any) return LineRead::kEnd;
  ++line_no_;
  ++stats_.lines;
  if (!line->empty() && line->back() == '\r') line->pop_back();
  if (line_no_ == 1 && line->compare(0, 3, "\xEF\xBB\xBF") == 0) line->erase(0, 3);
  return too_long ? LineRead::kTooLong : LineRead::kLine;
}

void DomainListReader::Report(std::string_view text, std::string reason) {
  ++stats_.errors;
  if (!on_error_) return;
  DomainInputError e;
  e.file = file_name_;
  e.line = line_no_;
  e.text = std::string(text.substr(0, kMaxErrorText));
  e.reason = std::move(reason);
  on_error_(e);
}

std::optional<DomainEntry> DomainListReader::Next() {
  std::string line;
  for (;;) {
    LineRead r = ReadLine(&line);
    if (r == LineRead::kEnd) {
      if (in_.bad()) status_ = absl::DataLossError(Cat(file_name_, ": read error"));
      return std::nullopt;
    }
    if (r == LineRead::kTooLong) {
      Report(line, Cat("line longer than ", std::to_string(kMaxLineBytes), " bytes"));
      continue;
    }
    std::string_view text = line;
    if (size_t hash = text.find('#'); hash != std::string_view::npos) text = text.substr(0, hash);
    text = Strip(text);
    if (text.empty()) {
      ++stats_.skipped;
      continue;
    }
    bool first_content = !seen_content_;
    seen_content_ = true;
    int64_t rank = 0;
    std::string_view name = text;
    if (size_t comma = text.find(','); comma != std::string_view::npos) {
      std::string_view rank_text = Strip(text.substr(0, comma));
      name = Strip(text.substr(comma + 1));
      if (name.find(',') != std::string_view::npos) {
        Report(line, "expected `rank,domain` (too many fields)");
        continue;
      }
      if (!ParseInt(rank_text, &rank) || rank <= 0) {
        if (first_content && Lower(name) == "domain") {
          ++stats_.skipped;  // a CSV header such as "rank,domain"
          continue;
        }
        Report(line, Cat("bad rank '", rank_text, "' (expected a positive integer)"));
        continue;
      }
    }
    auto norm = NormaliseDomain(name);
    if (!norm.ok()) {
      Report(line, std::string(norm.status().message()));
      continue;
    }
    if (!seen_.insert(*norm).second) {
      ++stats_.duplicates;
      continue;
    }
    ++stats_.domains;
    return DomainEntry{std::move(*norm), rank, line_no_};
  }
}

absl::Status ReadDomainList(std::istream& in, const std::string& file_name,
                            const std::function<void(const std::string&, int64_t)>& on_domain,
                            const DomainListReader::ErrorFn& on_error, DomainListStats* stats) {
  DomainListReader reader(in, file_name, on_error);
  while (auto entry = reader.Next()) on_domain(entry->domain, entry->rank);
  if (stats) *stats = reader.stats();
  return reader.status();
}

}  // namespace mxcensus
