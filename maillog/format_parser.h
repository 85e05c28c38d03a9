#pragma once

// The interface of the three log-format parsers (Postfix, Exim, Sendmail). Each parser keeps
// its own join state (sessions by process id, messages by queue id) across every file of a
// run, so rotated files read oldest first join like one log.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "maillog/collector.h"
#include "maillog/envelope.h"

namespace mxcensus::maillog {

enum class Format { kAuto, kPostfix, kExim, kSendmail };

std::string_view FormatName(Format f);

struct ParseOptions {
  int year = 1970;        // the year of traditional syslog timestamps (they carry none)
  int64_t since = 0;      // lines before this unix time are skipped (0 = all)
  int64_t not_after = 0;  // "now": a traditional timestamp after it is from the year before
};

enum class Fate { kUsed, kIgnored, kUnparsed, kMalformed, kBeforeSince };

struct LineResult {
  Fate fate = Fate::kIgnored;
  std::string_view reason;  // for kUnparsed / kMalformed
};

class FormatParser {
 public:
  virtual ~FormatParser() = default;
  // One line, without its end-of-line. `*collector` must outlive the parser.
  virtual LineResult Feed(std::string_view line) = 0;
};

// The syslog envelope of a line for the Postfix and Sendmail parsers: nullopt, with *early set
// to the line's fate, when it has none or is older than --since.
inline std::optional<SyslogLine> SyslogEnvelope(std::string_view line, const ParseOptions& opts,
                                                LineResult* early) {
  auto sl = ParseSyslog(line, opts.year, opts.not_after);
  if (!sl) {
    *early = {Fate::kUnparsed, "no syslog envelope"};
  } else if (sl->time < opts.since) {
    *early = {Fate::kBeforeSince, ""};
    return std::nullopt;
  }
  return sl;
}

std::unique_ptr<FormatParser> MakePostfixParser(const ParseOptions& opts, Collector* collector);
std::unique_ptr<FormatParser> MakeEximParser(const ParseOptions& opts, Collector* collector);
std::unique_ptr<FormatParser> MakeSendmailParser(const ParseOptions& opts, Collector* collector);

inline bool Contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

// Which format a line is evidence of (kAuto = none).
Format LineFormat(std::string_view line);

// Field helpers shared by the parsers. The value of `key` (e.g. "relay=") in a
// "k1=v1, k2=v2" list: up to the next ", " (or to the end); nullopt-like "" + false when absent.
bool FieldValue(std::string_view text, std::string_view key, std::string_view* value);
// The status word and its parenthesised text: "sent (250 ok)" -> "sent", "250 ok".
void SplitStatus(std::string_view v, std::string_view* word, std::string_view* detail);

}  // namespace mxcensus::maillog
