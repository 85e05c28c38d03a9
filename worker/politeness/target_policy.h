#pragma once

#include <optional>
#include <string>
#include <unordered_map>

#include "common/cidr.h"

namespace mxcensus::politeness {

// Who may be contacted at all: the blocklist (CIDRs from --blocklist) and, unless
// --allow-private, the reserved ranges (CidrSet::Reserved()).
class TargetPolicy {
 public:
  TargetPolicy(CidrSet blocklist, bool allow_private)
      : blocklist_(std::move(blocklist)), allow_private_(allow_private) {}
  // The reason the address must not be contacted, or nullopt when it may be.
  std::optional<std::string> BlockReason(const IpAddress& a) const;

 private:
  CidrSet blocklist_;
  bool allow_private_;
};

// Connections in flight per address and per network prefix (/24 for IPv4, /48 for IPv6 by
// default): at most `per_address` to one address and `per_prefix` to one prefix at a time.
class ConcurrencyGate {
 public:
  struct Limits {
    int per_address = 1;
    int per_prefix = 4;
    int v4_prefix_len = 24;
    int v6_prefix_len = 48;
  };
  enum class Verdict : uint8_t { kAcquired, kAddressBusy, kPrefixBusy };

  explicit ConcurrencyGate(Limits limits) : limits_(limits) {}
  Verdict TryAcquire(const IpAddress& a);
  void Release(const IpAddress& a);
  IpAddress PrefixOf(const IpAddress& a) const {
    return a.Masked(a.family == 4 ? limits_.v4_prefix_len : limits_.v6_prefix_len);
  }
  size_t busy_addresses() const { return per_address_.size(); }

 private:
  Limits limits_;
  std::unordered_map<IpAddress, int, IpAddressHash> per_address_;
  std::unordered_map<IpAddress, int, IpAddressHash> per_prefix_;
};

}  // namespace mxcensus::politeness
