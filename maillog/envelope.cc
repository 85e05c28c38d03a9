#include "maillog/envelope.h"

#include <cctype>
#include <charconv>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace mxcensus::maillog {
namespace {

// Reads exactly `n` digits at s[pos]; -1 when they are not all digits.
int Digits(std::string_view s, size_t pos, size_t n) {
  if (pos + n > s.size()) return -1;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

int MonthIndex(std::string_view m) {
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i) {
    if (m == kMonths[i]) return i + 1;
  }
  return 0;
}

// "hh:mm:ss" at pos -> seconds of the day, -1 on error.
int TimeOfDay(std::string_view s, size_t pos) {
  int h = Digits(s, pos, 2), m = Digits(s, pos + 3, 2), sec = Digits(s, pos + 6, 2);
  if (h < 0 || m < 0 || sec < 0 || s[pos + 2] != ':' || s[pos + 5] != ':') return -1;
  if (h > 23 || m > 59 || sec > 60) return -1;
  return h * 3600 + m * 60 + sec;
}

// "YYYY-MM-DD" at pos -> days since the epoch via CivilToUnix, nullopt on error.
std::optional<int64_t> Date(std::string_view s, size_t pos) {
  int y = Digits(s, pos, 4), mo = Digits(s, pos + 5, 2), d = Digits(s, pos + 8, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || s[pos + 4] != '-' || s[pos + 7] != '-') {
    return std::nullopt;
  }
  return CivilToUnix(y, mo, d, 0, 0, 0);
}

// Skips ".fraction" and an offset "Z" / "+hh:mm" / " +hhmm" (Exim) at pos; returns the offset
// in seconds to subtract, and advances pos. -1 = malformed.
std::optional<int> Offset(std::string_view s, size_t* pos, bool exim) {
  size_t p = *pos;
  if (p < s.size() && s[p] == '.') {
    ++p;
    while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) ++p;
  }
  int off = 0;
  if (!exim && p < s.size() && s[p] == 'Z') {
    ++p;
  } else if (!exim && p < s.size() && (s[p] == '+' || s[p] == '-')) {
    int h = Digits(s, p + 1, 2), m = Digits(s, p + 4, 2);
    if (h < 0 || m < 0 || p + 3 >= s.size() || s[p + 3] != ':') return std::nullopt;
    off = (h * 3600 + m * 60) * (s[p] == '-' ? -1 : 1);
    p += 6;
  } else if (exim && p + 6 <= s.size() && s[p] == ' ' && (s[p + 1] == '+' || s[p + 1] == '-')) {
    int h = Digits(s, p + 2, 2), m = Digits(s, p + 4, 2);
    if (h >= 0 && m >= 0) {
      off = (h * 3600 + m * 60) * (s[p + 1] == '-' ? -1 : 1);
      p += 6;
    }
  }
  *pos = p;
  return off;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

int64_t CivilToUnix(int year, int month, int day, int hour, int minute, int second) {
  // Howard Hinnant's days_from_civil.
  year -= month <= 2;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(year - era * 400);
  const unsigned doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = era * 146097 + static_cast<int64_t>(doe) - 719468;
  return days * 86400 + hour * 3600 + minute * 60 + second;
}

std::optional<SyslogLine> ParseSyslog(std::string_view line, int year, int64_t not_after) {
  SyslogLine out;
  size_t pos = 0;
  if (line.size() >= 16 && line[3] == ' ' && MonthIndex(line.substr(0, 3)) > 0) {
    int month = MonthIndex(line.substr(0, 3));
    int day = line[4] == ' ' ? Digits(line, 5, 1) : Digits(line, 4, 2);
    int tod = TimeOfDay(line, 7);
    if (day < 1 || tod < 0 || line[6] != ' ' || line.size() < 16 || line[15] != ' ') {
      return std::nullopt;
    }
    out.time = CivilToUnix(year, month, day, 0, 0, 0) + tod;
    if (not_after != 0 && out.time > not_after + 86400) {
      out.time = CivilToUnix(year - 1, month, day, 0, 0, 0) + tod;
    }
    pos = 16;
  } else {
    auto date = Date(line, 0);
    if (!date || line.size() < 20 || line[10] != 'T') return std::nullopt;
    int tod = TimeOfDay(line, 11);
    if (tod < 0) return std::nullopt;
    pos = 19;
    auto off = Offset(line, &pos, false);
    if (!off || pos >= line.size() || line[pos] != ' ') return std::nullopt;
    out.time = *date + tod - *off;
    ++pos;
  }
  size_t sp = line.find(' ', pos);
  if (sp == std::string_view::npos) return std::nullopt;
  out.host = line.substr(pos, sp - pos);
  size_t colon = line.find(": ", sp + 1);
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view tag = line.substr(sp + 1, colon - sp - 1);
  if (tag.empty() || tag.find(' ') != std::string_view::npos) return std::nullopt;
  if (tag.back() == ']') {
    size_t lb = tag.rfind('[');
    if (lb == std::string_view::npos) return std::nullopt;
    out.pid = tag.substr(lb + 1, tag.size() - lb - 2);
    tag = tag.substr(0, lb);
  }
  out.program = tag;
  out.text = line.substr(colon + 2);
  return out;
}

std::optional<EximLine> ParseEximEnvelope(std::string_view line) {
  auto date = Date(line, 0);
  if (!date || line.size() < 20 || line[10] != ' ') return std::nullopt;
  int tod = TimeOfDay(line, 11);
  if (tod < 0) return std::nullopt;
  size_t pos = 19;
  auto off = Offset(line, &pos, true);
  if (!off) return std::nullopt;
  EximLine out;
  out.time = *date + tod - *off;
  if (pos + 1 < line.size() && line[pos] == ' ' && line[pos + 1] == '[') {
    size_t rb = line.find(']', pos);
    if (rb == std::string_view::npos) return std::nullopt;
    out.pid = line.substr(pos + 2, rb - pos - 2);
    pos = rb + 1;
  }
  if (pos >= line.size() || line[pos] != ' ') return std::nullopt;
  out.text = line.substr(pos + 1);
  return out;
}

absl::StatusOr<int64_t> ParseSince(std::string_view text) {
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "--since: '", std::string(text), "' is not a date (YYYY-MM-DD[THH:MM[:SS][Z|+hh:mm]])"));
  };
  auto date = Date(text, 0);
  if (!date) return bad();
  if (text.size() == 10) return *date;
  if (text[10] != 'T' && text[10] != ' ') return bad();
  std::string t(text.substr(11));
  if (t.size() == 5 || (t.size() > 5 && t[5] != ':')) t.insert(5, ":00");
  int tod = TimeOfDay(t, 0);
  if (tod < 0) return bad();
  size_t pos = 8;
  auto off = Offset(t, &pos, false);
  if (!off || pos != t.size()) return bad();
  return *date + tod - *off;
}

HostAddr SplitHostAddr(std::string_view s) {
  HostAddr out;
  size_t lb = s.find('[');
  size_t rb = s.find(']', lb == std::string_view::npos ? 0 : lb);
  if (lb == std::string_view::npos || rb == std::string_view::npos) {
    out.name = std::string(Trim(s));
  } else {
    // "name (helo) [addr]" (Exim) or "(helo) [addr]" (no reverse name): the name only.
    std::string_view name = Trim(s.substr(0, lb));
    if (!name.empty() && name.front() == '(') name = "";
    name = name.substr(0, name.find(' '));
    out.name = std::string(name);
    out.addr = std::string(s.substr(lb + 1, rb - lb - 1));
    if (out.addr.rfind("IPv6:", 0) == 0) out.addr.erase(0, 5);
  }
  while (!out.name.empty() && out.name.back() == '.') out.name.pop_back();
  if (out.name == "unknown") out.name.clear();
  return out;
}

}  // namespace mxcensus::maillog
