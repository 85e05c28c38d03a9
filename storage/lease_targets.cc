#include "storage/lease_targets.h"

#include <algorithm>

namespace mxcensus::storage {

void LeaseTargets::Add(int64_t crawl_id, int shard_id, const std::vector<TargetRow>& targets) {
  std::vector<Target> fresh;
  fresh.reserve(targets.size());
  for (const TargetRow& t : targets) {
    auto address = IpAddress::Parse(t.ip);
    if (!address) continue;  // never stored: such a result is refused by the lookup in `target`
    fresh.push_back(Target{t.target_id, *address, t.port, t.mx_name});
  }
  std::lock_guard lock(mu_);
  auto [it, created] = shards_.try_emplace(Key(crawl_id, shard_id));
  Shard& shard = it->second;
  if (created) {
    shard.generation = next_generation_++;
    order_.emplace_back(it->first, shard.generation);
  }
  targets_ -= shard.targets.size();
  std::move(fresh.begin(), fresh.end(), std::back_inserter(shard.targets));
  // The lease query returns its targets by id: one sort of nearly sorted data per lease.
  std::sort(shard.targets.begin(), shard.targets.end(),
            [](const Target& a, const Target& b) { return a.id < b.id; });
  shard.targets.erase(std::unique(shard.targets.begin(), shard.targets.end(),
                                  [](const Target& a, const Target& b) { return a.id == b.id; }),
                      shard.targets.end());
  targets_ += shard.targets.size();
  TrimLocked();
}

void LeaseTargets::Forget(int64_t crawl_id, int shard_id) {
  std::lock_guard lock(mu_);
  auto it = shards_.find(Key(crawl_id, shard_id));
  if (it == shards_.end()) return;
  targets_ -= it->second.targets.size();
  shards_.erase(it);
  TrimLocked();
}

void LeaseTargets::TrimLocked() {
  while (targets_ > max_targets_ && !order_.empty()) {
    const auto [key, generation] = order_.front();
    order_.pop_front();
    auto it = shards_.find(key);
    if (it == shards_.end() || it->second.generation != generation) continue;
    targets_ -= it->second.targets.size();
    shards_.erase(it);
  }
  // A shard done is forgotten where it stands in order_; its entry goes here, in bulk, so that
  // order_ stays within a few times the shards remembered however many were leased.
  if (order_.size() > 2 * shards_.size() + 64) {
    std::erase_if(order_, [&](const std::pair<Key, uint64_t>& e) {
      auto it = shards_.find(e.first);
      return it == shards_.end() || it->second.generation != e.second;
    });
  }
}

void LeaseTargets::Compare(int64_t crawl_id, int shard_id, const std::vector<ProbeResult>& results,
                           const std::vector<IpAddress>& addresses, std::vector<Match>& out,
                           std::string* target) const {
  out.assign(results.size(), Match::kUnknown);
  std::lock_guard lock(mu_);
  auto it = shards_.find(Key(crawl_id, shard_id));
  if (it == shards_.end()) return;
  const std::vector<Target>& targets = it->second.targets;
  for (size_t i = 0; i < results.size(); ++i) {
    const ProbeResult& r = results[i];
    auto t = std::lower_bound(
        targets.begin(), targets.end(), r.target_id,
        [](const Target& a, uint64_t id) { return static_cast<uint64_t>(a.id) < id; });
    if (t == targets.end() || static_cast<uint64_t>(t->id) != r.target_id) continue;
    if (t->address == addresses[i] && t->port == r.port && t->mx_name == r.name) {
      out[i] = Match::kSame;
      continue;
    }
    out[i] = Match::kDifferent;
    if (target != nullptr && target->empty()) {
      *target = t->address.ToString() + " port " + std::to_string(t->port) + " " + t->mx_name;
    }
  }
}

size_t LeaseTargets::size() const {
  std::lock_guard lock(mu_);
  return targets_;
}

}  // namespace mxcensus::storage
