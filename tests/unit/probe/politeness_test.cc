#include <gtest/gtest.h>

#include "common/cidr.h"
#include "worker/politeness/rate_limiter.h"
#include "worker/politeness/target_policy.h"
#include "worker/probe/target_input.h"

namespace mxcensus {
namespace {

IpAddress Ip(const char* s) { return *IpAddress::Parse(s); }

TEST(CidrSetTest, ContainsV4AndV6) {
  CidrSet set;
  ASSERT_TRUE(set.Add("192.0.2.0/24").ok());
  ASSERT_TRUE(set.Add("2001:db8::/32").ok());
  ASSERT_TRUE(set.Add("198.51.100.7").ok());
  EXPECT_TRUE(set.Contains(Ip("192.0.2.200")));
  EXPECT_FALSE(set.Contains(Ip("192.0.3.1")));
  EXPECT_TRUE(set.Contains(Ip("2001:db8:1::5")));
  EXPECT_FALSE(set.Contains(Ip("2001:db9::5")));
  EXPECT_TRUE(set.Contains(Ip("198.51.100.7")));
  EXPECT_FALSE(set.Contains(Ip("198.51.100.8")));
  EXPECT_TRUE(set.Contains(Ip("::ffff:192.0.2.9")));  // mapped form is IPv4
}

TEST(CidrSetTest, BlocklistTextWithCommentsAndErrors) {
  CidrSet set;
  EXPECT_TRUE(
      set.AddFromText("# opt-outs\n\n203.0.113.0/24  # a provider\n  10.0.0.0/8\n", "bl.txt").ok());
  EXPECT_EQ(set.size(), 2u);
  auto bad = set.AddFromText("10.0.0.0/8\n10.0.0.0/33\n", "bl.txt");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.message()).find("bl.txt:2:"), std::string::npos);
  EXPECT_FALSE(set.AddFromText("not-an-ip\n", "x").ok());
}

TEST(CidrSetTest, ReservedRanges) {
  const CidrSet& r = CidrSet::Reserved();
  for (const char* a :
       {"127.0.0.1", "10.1.2.3", "192.168.1.1", "172.16.0.1", "100.64.0.1", "169.254.1.1",
        "224.0.0.1", "255.255.255.255", "0.1.2.3", "::1", "fe80::1", "fc00::1", "2001:db8::1"}) {
    EXPECT_TRUE(r.Contains(Ip(a))) << a;
  }
  for (const char* a : {"8.8.8.8", "1.1.1.1", "2a00:1450::1", "193.0.0.1"}) {
    EXPECT_FALSE(r.Contains(Ip(a))) << a;
  }
}

TEST(TargetPolicyTest, BlocklistAndPrivateRanges) {
  CidrSet bl;
  ASSERT_TRUE(bl.Add("127.30.0.5/32").ok());
  politeness::TargetPolicy strict(bl, false);
  politeness::TargetPolicy lab(bl, true);
  EXPECT_TRUE(strict.BlockReason(Ip("127.30.0.6")).has_value());
  EXPECT_FALSE(lab.BlockReason(Ip("127.30.0.6")).has_value());
  EXPECT_TRUE(lab.BlockReason(Ip("127.30.0.5")).has_value());  // the blocklist always wins
  EXPECT_FALSE(strict.BlockReason(Ip("8.8.8.8")).has_value());
}

TEST(ConcurrencyGateTest, PerAddressAndPerPrefixCaps) {
  politeness::ConcurrencyGate gate({.per_address = 1, .per_prefix = 2});
  using V = politeness::ConcurrencyGate::Verdict;
  EXPECT_EQ(gate.TryAcquire(Ip("192.0.2.1")), V::kAcquired);
  EXPECT_EQ(gate.TryAcquire(Ip("192.0.2.1")), V::kAddressBusy);
  EXPECT_EQ(gate.TryAcquire(Ip("192.0.2.2")), V::kAcquired);
  EXPECT_EQ(gate.TryAcquire(Ip("192.0.2.3")), V::kPrefixBusy);
  EXPECT_EQ(gate.TryAcquire(Ip("192.0.3.3")), V::kAcquired);  // another /24
  gate.Release(Ip("192.0.2.1"));
  EXPECT_EQ(gate.TryAcquire(Ip("192.0.2.3")), V::kAcquired);
  // IPv6 shares a cap per /48.
  EXPECT_EQ(gate.TryAcquire(Ip("2001:db8:1:1::1")), V::kAcquired);
  EXPECT_EQ(gate.TryAcquire(Ip("2001:db8:1:2::1")), V::kAcquired);
  EXPECT_EQ(gate.TryAcquire(Ip("2001:db8:1:3::1")), V::kPrefixBusy);
  EXPECT_EQ(gate.TryAcquire(Ip("2001:db8:2::1")), V::kAcquired);
}

TEST(RateLimiterTest, TokenBucket) {
  politeness::RateLimiter r(10, 2);  // 10/s, burst 2
  uint64_t t = 1000000;
  EXPECT_TRUE(r.TryTake(t));
  EXPECT_TRUE(r.TryTake(t));
  EXPECT_FALSE(r.TryTake(t));
  EXPECT_EQ(r.WaitUs(t), 100000u);
  EXPECT_FALSE(r.TryTake(t + 99000));
  EXPECT_TRUE(r.TryTake(t + 100000));
  // Over 10 s at most 100 (+ burst) tokens.
  int taken = 0;
  for (uint64_t us = 0; us < 10000000; us += 1000) taken += r.TryTake(t + 200000 + us);
  EXPECT_GE(taken, 99);
  EXPECT_LE(taken, 102);
  politeness::RateLimiter unlimited(0, 1);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(unlimited.TryTake(0));
}

TEST(TargetInputTest, ZGrabLines) {
  auto a = probe::ParseTargetLine("192.0.2.1,MX1.Example.Test.,tag-a");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ((*a)->ip, "192.0.2.1");
  EXPECT_EQ((*a)->name, "mx1.example.test");
  EXPECT_EQ((*a)->tag, "tag-a");
  auto b = probe::ParseTargetLine(" 2001:DB8::1 , mx.test\r");
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_EQ((*b)->ip, "2001:db8::1");
  auto c = probe::ParseTargetLine("[::1]");
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->ip, "::1");
  EXPECT_FALSE((*probe::ParseTargetLine("")).has_value());
  EXPECT_FALSE((*probe::ParseTargetLine("# comment")).has_value());
  EXPECT_FALSE(probe::ParseTargetLine("999.1.1.1,x").ok());
  EXPECT_FALSE(probe::ParseTargetLine("mx.example.test").ok());
  EXPECT_FALSE(probe::ParseTargetLine("192.0.2.1,bad name!").ok());
  EXPECT_FALSE(probe::ParseTargetLine("192.0.2.1,a,b,c").ok());
}

TEST(TargetInputTest, Durations) {
  EXPECT_EQ(*probe::ParseDurationMs("10s"), 10000u);
  EXPECT_EQ(*probe::ParseDurationMs("500ms"), 500u);
  EXPECT_EQ(*probe::ParseDurationMs("2m"), 120000u);
  EXPECT_EQ(*probe::ParseDurationMs("1.5s"), 1500u);
  EXPECT_EQ(*probe::ParseDurationMs("3"), 3000u);
  for (const char* bad : {"", "s", "-1s", "0", "abc", "10h", "1e99s", "0.1ms"}) {
    EXPECT_FALSE(probe::ParseDurationMs(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace mxcensus
