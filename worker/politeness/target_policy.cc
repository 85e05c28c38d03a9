#include "worker/politeness/target_policy.h"

namespace mxcensus::politeness {

std::optional<std::string> TargetPolicy::BlockReason(const IpAddress& a) const {
  if (blocklist_.Contains(a)) return "address is on the blocklist";
  if (!allow_private_ && CidrSet::Reserved().Contains(a)) {
    return "address is in a private or reserved range (use --allow-private)";
  }
  return std::nullopt;
}

ConcurrencyGate::Verdict ConcurrencyGate::TryAcquire(const IpAddress& a) {
  auto addr_it = per_address_.find(a);
  if (limits_.per_address > 0 && addr_it != per_address_.end() &&
      addr_it->second >= limits_.per_address) {
    return Verdict::kAddressBusy;
  }
  IpAddress prefix = PrefixOf(a);
  auto pre_it = per_prefix_.find(prefix);
  if (limits_.per_prefix > 0 && pre_it != per_prefix_.end() &&
      pre_it->second >= limits_.per_prefix) {
    return Verdict::kPrefixBusy;
  }
  ++per_address_[a];
  ++per_prefix_[prefix];
  return Verdict::kAcquired;
}

void ConcurrencyGate::Release(const IpAddress& a) {
  if (auto it = per_address_.find(a); it != per_address_.end() && --it->second <= 0) {
    per_address_.erase(it);
  }
  IpAddress prefix = PrefixOf(a);
  if (auto it = per_prefix_.find(prefix); it != per_prefix_.end() && --it->second <= 0) {
    per_prefix_.erase(it);
  }
}

}  // namespace mxcensus::politeness
