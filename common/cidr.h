#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mxcensus {

// An IPv4 or IPv6 address in network byte order. IPv4 is kept as 4 bytes (family 4), IPv6 as 16
// (family 6); an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is normalised to IPv4.
struct IpAddress {
  uint8_t family = 0;  // 4 or 6; 0 = invalid
  std::array<uint8_t, 16> bytes{};

  static std::optional<IpAddress> Parse(std::string_view text);
  std::string ToString() const;
  size_t bit_length() const { return family == 4 ? 32 : 128; }
  // The address with all bits after `prefix_len` cleared (e.g. its /24 or /48).
  IpAddress Masked(int prefix_len) const;
  bool operator==(const IpAddress& o) const { return family == o.family && bytes == o.bytes; }
};

struct IpAddressHash {
  size_t operator()(const IpAddress& a) const;
};

// A set of CIDR blocks (IPv4 and IPv6) with a membership test. Small sets (blocklists of
// hundreds of entries) are linear scans per prefix length; good enough for a probe rate of
// thousands per second.
class CidrSet {
 public:
  // Adds "a.b.c.d/n", "a.b.c.d" (a /32), "2001:db8::/32" or "::1".
  absl::Status Add(std::string_view cidr);
  // Reads a blocklist: one CIDR a line; '#' starts a comment; blank lines are ignored. Errors
  // name the line.
  absl::Status AddFromText(std::string_view text, std::string_view source_name);
  bool Contains(const IpAddress& a) const;
  size_t size() const { return blocks_.size(); }

  // IANA special-purpose and private ranges (RFC 6890 and successors) that a survey must not
  // contact unless explicitly allowed: private, loopback, link-local, CGN, documentation,
  // benchmarking, multicast, reserved.
  static const CidrSet& Reserved();

 private:
  struct Block {
    IpAddress base;  // masked
    int prefix_len;
  };
  std::vector<Block> blocks_;
};

}  // namespace mxcensus
