#include "worker/dns/host_cache.h"

namespace mxcensus::dns {

void HostCache::Touch(Entry& e) { lru_.splice(lru_.begin(), lru_, e.lru); }

HostCache::Hit HostCache::Lookup(const std::string& name, int64_t now_ms, Waiter waiter,
                                 std::shared_ptr<const HostInfo>* info) {
  auto it = entries_.find(name);
  if (it != entries_.end()) {
    Entry& e = it->second;
    if (!e.done) {
      e.waiters.push_back(std::move(waiter));
      return Hit::kJoined;
    }
    if (e.expires_ms > now_ms) {
      Touch(e);
      *info = e.info;
      return Hit::kDone;
    }
    lru_.erase(e.lru);  // expired: look it up again
    entries_.erase(it);
  }
  lru_.push_front(name);
  Entry& e = entries_[name];
  e.lru = lru_.begin();
  e.waiters.push_back(std::move(waiter));
  Evict();
  return Hit::kMiss;
}

void HostCache::Complete(const std::string& name, std::shared_ptr<const HostInfo> info,
                         int64_t now_ms) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  std::vector<Waiter> waiters = std::move(it->second.waiters);
  if (info->cacheable) {
    Entry& e = it->second;
    e.done = true;
    e.info = info;
    e.expires_ms = now_ms + ttl_ms_;
    e.waiters.clear();
    Touch(e);
  } else {
    lru_.erase(it->second.lru);
    entries_.erase(it);
  }
  for (auto& w : waiters) w(info);
}

void HostCache::Evict() {
  // Oldest first; pending entries stay (domains wait on them), and there are at most as many of
  // those as lookups in flight, so the walk is short.
  auto it = lru_.end();
  while (entries_.size() > max_entries_ && it != lru_.begin()) {
    --it;
    auto e = entries_.find(*it);
    if (e == entries_.end() || !e->second.done) continue;
    auto victim = it++;
    entries_.erase(e);
    lru_.erase(victim);
  }
}

}  // namespace mxcensus::dns
