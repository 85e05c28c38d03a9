#include "common/cidr.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "absl/status/status.h"

namespace mxcensus {

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  std::string s(text);
  IpAddress a;
  if (s.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
    a.family = 4;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
  a.family = 6;
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a.bytes.data(), kMapped, 12) == 0) {
    std::memmove(a.bytes.data(), a.bytes.data() + 12, 4);
    std::memset(a.bytes.data() + 4, 0, 12);
    a.family = 4;
  }
  return a;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (family == 4) {
    inet_ntop(AF_INET, bytes.data(), buf, sizeof buf);
  } else if (family == 6) {
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  }
  return buf;
}

IpAddress IpAddress::Masked(int prefix_len) const {
  IpAddress out = *this;
  int bits = static_cast<int>(bit_length());
  if (prefix_len < 0) prefix_len = 0;
  for (int i = 0; i < bits / 8; ++i) {
    int keep = prefix_len - i * 8;
    if (keep >= 8) continue;
    out.bytes[i] &= keep <= 0 ? 0 : static_cast<uint8_t>(0xFF << (8 - keep));
  }
  return out;
}

size_t IpAddressHash::operator()(const IpAddress& a) const {
  uint64_t h = 1469598103934665603ull ^ a.family;
  for (size_t i = 0; i < (a.family == 4 ? 4u : 16u); ++i) {
    h = (h ^ a.bytes[i]) * 1099511628211ull;
  }
  return static_cast<size_t>(h);
}

absl::Status CidrSet::Add(std::string_view cidr) {
  std::string_view addr = cidr;
  int len = -1;
  if (size_t slash = cidr.find('/'); slash != std::string_view::npos) {
    addr = cidr.substr(0, slash);
    std::string_view n = cidr.substr(slash + 1);
    auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), len);
    if (ec != std::errc() || p != n.data() + n.size() || n.empty()) {
      return absl::InvalidArgumentError("bad prefix length in \"" + std::string(cidr) + "\"");
    }
  }
  auto a = IpAddress::Parse(addr);
  if (!a) return absl::InvalidArgumentError("bad address in \"" + std::string(cidr) + "\"");
  // "::ffff:10.0.0.0/104" names IPv4 space: convert the length too.
  if (a->family == 4 && addr.find(':') != std::string_view::npos && len >= 0) len -= 96;
  if (len < 0) len = static_cast<int>(a->bit_length());
  if (len > static_cast<int>(a->bit_length())) {
    return absl::InvalidArgumentError("prefix length too long in \"" + std::string(cidr) + "\"");
  }
  blocks_.push_back(Block{a->Masked(len), len});
  return absl::OkStatus();
}

absl::Status CidrSet::AddFromText(std::string_view text, std::string_view source_name) {
  int line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
      line.remove_suffix(1);
    }
    if (line.empty()) continue;
    if (auto s = Add(line); !s.ok()) {
      return absl::InvalidArgumentError(std::string(source_name) + ":" + std::to_string(line_no) +
                                        ": " + std::string(s.message()));
    }
  }
  return absl::OkStatus();
}

bool CidrSet::Contains(const IpAddress& a) const {
  for (const Block& b : blocks_) {
    if (b.base.family == a.family && a.Masked(b.prefix_len) == b.base) return true;
  }
  return false;
}

const CidrSet& CidrSet::Reserved() {
  static const CidrSet* set = [] {
    auto* s = new CidrSet();
    for (const char* c : {"0.0.0.0/8",       "10.0.0.0/8",      "100.64.0.0/10",   "127.0.0.0/8",
                          "169.254.0.0/16",  "172.16.0.0/12",   "192.0.0.0/24",    "192.0.2.0/24",
                          "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24",  "192.168.0.0/16",
                          "192.175.48.0/24", "198.18.0.0/15",   "198.51.100.0/24", "203.0.113.0/24",
                          "224.0.0.0/4",     "240.0.0.0/4",     "::/128",          "::1/128",
                          "64:ff9b::/96",    "64:ff9b:1::/48",  "100::/64",        "2001::/23",
                          "2001:db8::/32",   "2002::/16",       "3fff::/20",       "5f00::/16",
                          "fc00::/7",        "fe80::/10",       "ff00::/8"}) {
      (void)s->Add(c);
    }
    return s;
  }();
  return *set;
}

}  // namespace mxcensus
