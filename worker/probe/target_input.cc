#include "worker/probe/target_input.h"

#include <cmath>
#include <cstdlib>

#include "absl/status/status.h"
#include "common/cidr.h"

namespace mxcensus::probe {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool ValidHostName(std::string_view name) {
  if (name.size() > 253) return false;
  size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

}  // namespace

absl::StatusOr<std::optional<TargetLine>> ParseTargetLine(std::string_view line) {
  line = Trim(line);
  if (line.empty() || line.front() == '#') return std::optional<TargetLine>();
  std::string_view fields[3];
  int n = 0;
  while (n < 3) {
    size_t comma = line.find(',');
    fields[n++] = Trim(line.substr(0, comma));
    if (comma == std::string_view::npos) break;
    line.remove_prefix(comma + 1);
    if (n == 3) return absl::InvalidArgumentError("more than 3 fields (ip,name,tag)");
  }
  std::string_view ip = fields[0];
  if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  auto addr = IpAddress::Parse(ip);
  if (!addr) {
    return absl::InvalidArgumentError("invalid IP address \"" +
                                      std::string(fields[0].substr(0, 64)) + "\"");
  }
  TargetLine t;
  t.ip = addr->ToString();
  std::string name(fields[1]);
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (!name.empty() && !ValidHostName(name)) {
    return absl::InvalidArgumentError("invalid host name \"" + name.substr(0, 64) + "\"");
  }
  t.name = std::move(name);
  t.tag = std::string(fields[2]);
  if (t.tag.size() > 256) return absl::InvalidArgumentError("tag longer than 256 bytes");
  return std::optional<TargetLine>(std::move(t));
}

absl::StatusOr<uint32_t> ParseDurationMs(std::string_view text) {
  std::string s(Trim(text));
  double scale = 1000;  // bare numbers are seconds
  auto ends_with = [&](std::string_view suffix) {
    return s.size() > suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with("ms")) {
    scale = 1;
    s.resize(s.size() - 2);
  } else if (ends_with("s")) {
    s.resize(s.size() - 1);
  } else if (ends_with("m")) {
    scale = 60000;
    s.resize(s.size() - 1);
  }
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v) || v <= 0) {
    return absl::InvalidArgumentError("bad duration \"" + std::string(text) +
                                      "\" (use e.g. 10s, 500ms, 2m)");
  }
  double ms = v * scale;
  if (ms < 1 || ms > 86400000) {
    return absl::InvalidArgumentError("duration \"" + std::string(text) +
                                      "\" out of range (1ms..24h)");
  }
  return static_cast<uint32_t>(std::llround(ms));
}

}  // namespace mxcensus::probe
