#include "common/smtp/reply_parser.h"

#include <cctype>
#include <utility>

namespace mxcensus::smtp {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not valid (overlong
// forms, surrogates and values above U+10FFFF are rejected).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  size_t n;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return n;
}

char AsciiUpper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }

}  // namespace

std::string Reply::FirstLineWithCode() const {
  std::string out = std::to_string(code);
  if (!lines.empty() && !lines.front().empty()) {
    out += ' ';
    out += lines.front();
  }
  return out;
}

ReplyParser::Step ReplyParser::Feed(std::string_view input) {
  Step step;
  if (!error_.empty()) {
    step.state = State::kError;
    return step;
  }
  size_t i = 0;
  while (i < input.size()) {
    size_t nl = input.find('\n', i);
    size_t end = nl == std::string_view::npos ? input.size() : nl;
    size_t chunk = end - i;
    // The line bound counts the stored bytes; a CR before the LF does not count.
    size_t stored_limit = limits_.max_line + 1;
    if (line_.size() + chunk > stored_limit) {
      step.consumed = i;
      step.state = State::kError;
      Fail("reply line longer than " + std::to_string(limits_.max_line) + " bytes");
      return step;
    }
    line_.append(input.substr(i, chunk));
    reply_bytes_ += chunk;
    if (nl == std::string_view::npos) {
      i = input.size();
      break;
    }
    i = nl + 1;
    reply_bytes_ += 1;
    std::string_view line = line_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > limits_.max_line) {
      step.consumed = i;
      step.state = State::kError;
      Fail("reply line longer than " + std::to_string(limits_.max_line) + " bytes");
      return step;
    }
    bool last = false;
    if (!OnLine(line, &last)) {
      step.consumed = i;
      step.state = State::kError;
      return step;
    }
    line_.clear();
    if (last) {
      complete_ = true;
      step.consumed = i;
      step.state = State::kReply;
      return step;
    }
  }
  step.consumed = i;
  if (reply_bytes_ > limits_.max_reply_bytes) {
    step.state = State::kError;
    Fail("reply longer than " + std::to_string(limits_.max_reply_bytes) + " bytes");
  }
  return step;
}

bool ReplyParser::OnLine(std::string_view line, bool* last) {
  if (line.size() < 3 || !IsDigit(line[0]) || !IsDigit(line[1]) || !IsDigit(line[2])) {
    return Fail("not an SMTP reply line: \"" + SanitizeText(line.substr(0, 64)) + "\"");
  }
  if (line[0] < '2' || line[0] > '5' || line[1] > '5') {
    return Fail("reply code out of range: " + std::string(line.substr(0, 3)));
  }
  if (line.size() > 3 && line[3] != ' ' && line[3] != '-') {
    return Fail("bad separator after reply code: \"" + SanitizeText(line.substr(0, 64)) + "\"");
  }
  int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (!reply_.lines.empty() && code != reply_.code) {
    return Fail("reply code changed within a multi-line reply: " + std::to_string(reply_.code) +
                " then " + std::to_string(code));
  }
  if (reply_.lines.size() >= limits_.max_lines) {
    return Fail("reply has more than " + std::to_string(limits_.max_lines) + " lines");
  }
  if (reply_bytes_ > limits_.max_reply_bytes) {
    return Fail("reply longer than " + std::to_string(limits_.max_reply_bytes) + " bytes");
  }
  reply_.code = code;
  reply_.lines.push_back(SanitizeText(line.size() > 4 ? line.substr(4) : std::string_view()));
  *last = line.size() == 3 || line[3] == ' ';
  return true;
}

bool ReplyParser::Fail(std::string message) {
  error_ = std::move(message);
  return false;
}

Reply ReplyParser::TakeReply() {
  Reply out = std::move(reply_);
  reply_ = Reply();
  reply_bytes_ = 0;
  complete_ = false;
  line_.clear();
  return out;
}

void ReplyParser::Reset() {
  TakeReply();
  error_.clear();
}

std::string SanitizeText(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  size_t i = 0;
  while (i < raw.size()) {
    unsigned char c = static_cast<unsigned char>(raw[i]);
    if (c < 0x80) {
      out += (c < 0x20 && c != '\t') || c == 0x7F ? '?' : static_cast<char>(c);
      ++i;
      continue;
    }
    size_t n = Utf8SequenceLength(raw, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(raw.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string_view EhloKeyword(std::string_view line) {
  size_t end = line.find_first_of(" \t=");
  return line.substr(0, end);
}

bool IsStartTlsKeyword(std::string_view line) {
  std::string_view kw = EhloKeyword(line);
  constexpr std::string_view kStartTls = "STARTTLS";
  if (kw.size() != kStartTls.size()) return false;
  for (size_t i = 0; i < kw.size(); ++i) {
    if (AsciiUpper(kw[i]) != kStartTls[i]) return false;
  }
  return true;
}

bool IsMaskedStartTls(std::string_view line) {
  std::string_view kw = EhloKeyword(line);
  if (kw.size() != 8) return false;
  int xs = 0;
  for (char c : kw) {
    char u = AsciiUpper(c);
    if (u == 'X') {
      ++xs;
    } else if (u < 'A' || u > 'Z') {
      return false;
    }
  }
  return xs >= 7;
}

}  // namespace mxcensus::smtp
