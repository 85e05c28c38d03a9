#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/cidr.h"
#include "common/probe_result.h"
#include "storage/crawl_store.h"

namespace mxcensus::storage {

// The targets of the probe shards this coordinator leased lately, so that each result can be
// checked against the target it names without asking the database: a probe row is stored under
// (crawl, target_id), so a result must name a target of its lease's shard, with that target's
// address, port and MX name. The lease query reads the targets anyway; remembering them costs
// no statement. Thread-safe (shared by the coordinator's writers: a shard may be leased on one
// and ingested on another).
//
// Memory: at most `max_targets` targets (about 64 bytes each, names of more than 15
// characters on top); a shard is
// forgotten when it is done, and the oldest shards go first past the bound. What is not here
// (forgotten, a coordinator restarted while workers held leases, a late result of an earlier
// lease) is looked up in `target` instead, so the bound costs queries, never a check.
class LeaseTargets {
 public:
  static constexpr size_t kMaxTargets = 1 << 18;
  explicit LeaseTargets(size_t max_targets = kMaxTargets) : max_targets_(max_targets) {}

  // Remembers the targets of a lease of shard (crawl_id, shard_id), with what is remembered of
  // the shard already (a lease after a hand-back carries only the targets still missing).
  void Add(int64_t crawl_id, int shard_id, const std::vector<TargetRow>& targets);
  void Forget(int64_t crawl_id, int shard_id);

  enum class Match : uint8_t {
    kUnknown,    // no target of that id remembered for the shard: ask the database
    kSame,       // the shard's target of that id, with the result's address, port and name
    kDifferent,  // the shard's target of that id is another address, port or name
  };
  // For each result of a batch of a lease of shard (crawl_id, shard_id), with its parsed
  // address (`addresses[i]`): whether it is the shard's target that it names. When one is
  // kDifferent, `*target` gets the first such target ("10.0.0.2 port 25 mx.b.test").
  void Compare(int64_t crawl_id, int shard_id, const std::vector<ProbeResult>& results,
               const std::vector<IpAddress>& addresses, std::vector<Match>& out,
               std::string* target) const;

  size_t size() const;  // targets remembered
  size_t OrderEntriesForTest() const {
    std::lock_guard lock(mu_);
    return order_.size();
  }

 private:
  struct Target {
    int64_t id = 0;
    IpAddress address;
    uint16_t port = 0;
    std::string mx_name;
  };
  struct Shard {
    std::vector<Target> targets;  // by id
    uint64_t generation = 0;      // which entry of order_ is this shard's
  };
  using Key = std::pair<int64_t, int>;
  // REQUIRES: mu_ held. Drops the oldest shards past the bound, and the entries of order_
  // left by forgotten shards once they outnumber the live ones.
  void TrimLocked();

  const size_t max_targets_;
  mutable std::mutex mu_;
  std::map<Key, Shard> shards_;                 // guarded by mu_
  std::deque<std::pair<Key, uint64_t>> order_;  // guarded by mu_; oldest first
  size_t targets_ = 0;                          // guarded by mu_
  uint64_t next_generation_ = 0;                // guarded by mu_
};

}  // namespace mxcensus::storage
