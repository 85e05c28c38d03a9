// The coordinator's memory of leased probe shards' targets, against which results are checked:
// what it answers for a result, how a re-lease adds to a shard, and that it stays bounded.
#include "storage/lease_targets.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mxcensus::storage {
namespace {

using Match = LeaseTargets::Match;

TargetRow Target(int64_t id) {
  return TargetRow{id, "192.0.2." + std::to_string(id % 250), 25,
                   "mx" + std::to_string(id) + ".example.test"};
}

ProbeResult ResultOf(const TargetRow& t) {
  ProbeResult r;
  r.target_id = static_cast<uint64_t>(t.target_id);
  r.ip = t.ip;
  r.port = t.port;
  r.name = t.mx_name;
  return r;
}

std::vector<Match> Compare(const LeaseTargets& known, int64_t crawl, int shard,
                           const std::vector<ProbeResult>& results, std::string* target = nullptr) {
  std::vector<IpAddress> addresses;
  for (const auto& r : results) addresses.push_back(IpAddress::Parse(r.ip).value_or(IpAddress{}));
  std::vector<Match> out;
  known.Compare(crawl, shard, results, addresses, out, target);
  return out;
}

TEST(LeaseTargets, TellsTheSameTargetAnotherAndAnUnknownOneApart) {
  LeaseTargets known;
  known.Add(7, 3, {Target(1), Target(2), Target(3)});
  ProbeResult other_ip = ResultOf(Target(2));
  other_ip.ip = "192.0.2.9";
  ProbeResult other_port = ResultOf(Target(2));
  other_port.port = 2525;
  ProbeResult other_name = ResultOf(Target(3));
  other_name.name = "mx9.example.test";
  ProbeResult not_here = ResultOf(Target(4));
  ProbeResult none = ResultOf(Target(1));
  none.target_id = 0;
  std::string target;
  EXPECT_EQ(
      Compare(known, 7, 3, {ResultOf(Target(1)), other_ip, other_port, other_name, not_here, none},
              &target),
      (std::vector<Match>{Match::kSame, Match::kDifferent, Match::kDifferent, Match::kDifferent,
                          Match::kUnknown, Match::kUnknown}));
  EXPECT_EQ(target, "192.0.2.2 port 25 mx2.example.test");  // the first that differs
  // Another shard or crawl knows none of them.
  EXPECT_EQ(Compare(known, 7, 4, {ResultOf(Target(1))}), std::vector<Match>{Match::kUnknown});
  EXPECT_EQ(Compare(known, 8, 3, {ResultOf(Target(1))}), std::vector<Match>{Match::kUnknown});
}

TEST(LeaseTargets, AddressesCompareAsAddressesNotAsText) {
  LeaseTargets known;
  known.Add(1, 0, {TargetRow{5, "2001:db8::25", 25, "mx.v6.test"}});
  ProbeResult r = ResultOf(TargetRow{5, "2001:0DB8:0:0:0:0:0:25", 25, "mx.v6.test"});
  EXPECT_EQ(Compare(known, 1, 0, {r}), std::vector<Match>{Match::kSame});
  r.ip = "2001:db8::26";
  EXPECT_EQ(Compare(known, 1, 0, {r}), std::vector<Match>{Match::kDifferent});
  EXPECT_FALSE(IpAddress::Parse("192.0.2.300").has_value());
  EXPECT_FALSE(IpAddress::Parse("mx.example.test").has_value());
}

TEST(LeaseTargets, ALeaseAfterAHandBackAddsToTheShardAndDoneShardsAreForgotten) {
  LeaseTargets known;
  known.Add(1, 0, {Target(1), Target(2), Target(3)});
  known.Add(1, 0, {Target(3), Target(4)});  // a later lease: only what was missing, and more
  EXPECT_EQ(known.size(), 4u);
  EXPECT_EQ(Compare(known, 1, 0, {ResultOf(Target(1)), ResultOf(Target(4))}),
            (std::vector<Match>{Match::kSame, Match::kSame}));
  known.Forget(1, 0);
  EXPECT_EQ(known.size(), 0u);
  EXPECT_EQ(Compare(known, 1, 0, {ResultOf(Target(1))}), std::vector<Match>{Match::kUnknown});
}

TEST(LeaseTargets, StaysWithinItsBoundOldestShardsFirstHoweverManyAreLeased) {
  LeaseTargets known(1000);
  std::vector<TargetRow> shard;
  for (int64_t id = 1; id <= 250; ++id) shard.push_back(Target(id));
  for (int s = 0; s < 10000; ++s) {
    known.Add(1, s, shard);
    EXPECT_LE(known.size(), 1000u);
    if (s % 2 == 0) known.Forget(1, s);  // most shards end done
  }
  // Nor does the age order grow with the shards leased (at most 4 shards of 250 are kept).
  EXPECT_LE(known.OrderEntriesForTest(), 2 * 4 + 64 + 1u);
  // The newest shards are still known, the oldest not.
  EXPECT_EQ(Compare(known, 1, 9999, {ResultOf(Target(1))}), std::vector<Match>{Match::kSame});
  EXPECT_EQ(Compare(known, 1, 1, {ResultOf(Target(1))}), std::vector<Match>{Match::kUnknown});
}

}  // namespace
}  // namespace mxcensus::storage
