#pragma once

// The per-resolver cache of MX-name lookups (A, AAAA, TLSA), so that a provider's MX shared by
// thousands of domains is resolved once. Entries are either pending (a lookup is running and
// domains wait on it) or done (reused until they expire or fall off the LRU end). Transient
// failures are handed to the domains already waiting, then forgotten. Loop thread only.

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "worker/dns/domain_assembly.h"

namespace mxcensus::dns {

class HostCache {
 public:
  using Waiter = std::function<void(const std::shared_ptr<const HostInfo>&)>;
  enum class Hit { kDone, kJoined, kMiss };

  HostCache(size_t max_entries, int64_t ttl_ms) : max_entries_(max_entries), ttl_ms_(ttl_ms) {}

  // kDone: `*info` is set, nothing is queued. kJoined: a lookup is running, `waiter` will run when
  // it ends. kMiss: a pending entry was created with `waiter` on it; the caller must start the
  // lookup and call Complete().
  Hit Lookup(const std::string& name, int64_t now_ms, Waiter waiter,
             std::shared_ptr<const HostInfo>* info);
  // Ends the pending lookup of `name`: runs its waiters (after the cache is updated).
  void Complete(const std::string& name, std::shared_ptr<const HostInfo> info, int64_t now_ms);

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    bool done = false;
    std::shared_ptr<const HostInfo> info;
    std::vector<Waiter> waiters;
    int64_t expires_ms = 0;
    std::list<std::string>::iterator lru;  // position in lru_ (front = most recent)
  };
  void Touch(Entry& e);
  void Evict();

  size_t max_entries_;
  int64_t ttl_ms_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;
};

}  // namespace mxcensus::dns
