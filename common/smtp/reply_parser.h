#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mxcensus::smtp {

// One complete RFC 5321 reply: "250-first\r\n250-second\r\n250 last\r\n" gives code 250 and
// lines {"first", "second", "last"} (the text after the code and its separator, sanitised).
struct Reply {
  int code = 0;
  std::vector<std::string> lines;

  // The first line as a server sent it ("220 mx.example ESMTP"), for the banner field.
  std::string FirstLineWithCode() const;
  bool Is2xx() const { return code >= 200 && code < 300; }
};

// Bounds on what one reply may be. RFC 5321 §4.5.3.1.5 allows 512 octets a line; real servers
// exceed that, so the default accepts 2 KiB.
struct ReplyLimits {
  size_t max_line = 2048;          // bytes, without the line ending
  size_t max_lines = 100;          // lines per reply
  size_t max_reply_bytes = 65536;  // bytes per reply, line endings included
};

// Incremental parser of SMTP replies. Bytes may arrive split at any boundary. Lines end in LF
// with an optional CR before it. Feed() stops right after the end of a complete reply, so the
// caller sees exactly which bytes followed it (needed to detect bytes pipelined after the 220
// to STARTTLS). Not thread-safe; one parser per session.
class ReplyParser {
 public:
  enum class State : uint8_t { kNeedMore, kReply, kError };
  struct Step {
    State state = State::kNeedMore;
    size_t consumed = 0;  // bytes of the input used; the rest belongs to what follows
  };

  explicit ReplyParser(ReplyLimits limits = {}) : limits_(limits) {}

  // Consumes input until one reply is complete (kReply: read it with TakeReply()), the input is
  // used up (kNeedMore), or the input is not SMTP or exceeds a bound (kError: error() says why;
  // the parser stays in error until Reset()).
  Step Feed(std::string_view input);

  // Moves the completed reply out and readies the parser for the next one.
  Reply TakeReply();
  const std::string& error() const { return error_; }
  // Bytes of a reply in progress (a partial line or continuation lines).
  bool HasPartial() const { return !line_.empty() || !reply_.lines.empty(); }
  void Reset();

 private:
  // Handles one complete line (without its ending). Returns false on a protocol error.
  bool OnLine(std::string_view line, bool* last);
  bool Fail(std::string message);

  ReplyLimits limits_;
  std::string line_;  // the current, incomplete line
  Reply reply_;
  size_t reply_bytes_ = 0;
  bool complete_ = false;
  std::string error_;
};

// Makes server text safe for JSON and protobuf strings: valid UTF-8 is kept, control characters
// (other than tab) become '?', and invalid UTF-8 bytes become U+FFFD.
std::string SanitizeText(std::string_view raw);

// EHLO keyword helpers. `line` is one EHLO reply line after the code ("STARTTLS",
// "SIZE 10240000"). Keywords compare case-insensitively (RFC 5321 §2.4).
std::string_view EhloKeyword(std::string_view line);
bool IsStartTlsKeyword(std::string_view line);
// True for the 8-character keyword a middlebox leaves where STARTTLS was: at least seven 'X'
// and otherwise a letter (Cisco PIX/ASA "XXXXXXXA", others "XXXXXXXX").
bool IsMaskedStartTls(std::string_view line);

}  // namespace mxcensus::smtp
