#pragma once

// The envelope of a log line: its time and, for syslog lines, the host, program and pid.
// Shared by the three format parsers; also the --since parser.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mxcensus::maillog {

// A syslog line: "Nov 28 10:00:01 host prog[pid]: text" (traditional, BSD) or
// "2026-11-28T10:00:01.123456+00:00 host prog[pid]: text" (RFC 3339, rsyslog/journald).
struct SyslogLine {
  int64_t time = 0;  // unix seconds, UTC
  std::string_view host;
  std::string_view program;  // "postfix/smtpd", "sm-mta"
  std::string_view pid;      // "" when the line has none
  std::string_view text;     // after "]: " or ": "
};

// Parses the envelope. `year` supplies the year traditional timestamps omit; a traditional
// timestamp more than a day after `not_after` (when non-zero) is taken from the year before
// (a log that spans New Year, read in January).
std::optional<SyslogLine> ParseSyslog(std::string_view line, int year, int64_t not_after = 0);

// An Exim main-log line: "2026-11-28 10:00:01[.123][ +0000][ [pid]] text".
struct EximLine {
  int64_t time = 0;
  std::string_view pid;
  std::string_view text;
};
std::optional<EximLine> ParseEximEnvelope(std::string_view line);

// Seconds since the epoch of a civil UTC date-time (no validation beyond ranges).
int64_t CivilToUnix(int year, int month, int day, int hour, int minute, int second);

// --since: "2026-11-28", "2026-11-28 10:00[:00]" or "2026-11-28T10:00:00[Z|+hh:mm]" -> unix
// seconds (UTC unless an offset is given). The error names the flag.
absl::StatusOr<int64_t> ParseSince(std::string_view text);

// Splits "name[addr]" / "name[addr]:port" / "name [addr]" into name and address.
struct HostAddr {
  std::string name;
  std::string addr;
};
HostAddr SplitHostAddr(std::string_view s);

}  // namespace mxcensus::maillog
