#include "worker/dns/domain_assembly.h"

#include <ares.h>
#include <gtest/gtest.h>

#include "tests/unit/dns/message_builder.h"
#include "worker/dns/host_cache.h"
#include "worker/dns/policy.h"

namespace mxcensus::dns {
namespace {

using testing_util::MessageBuilder;

TEST(PolicyTest, RecognisesEachRecordKind) {
  EXPECT_TRUE(IsPolicyRecord(PolicyKind::kSpf, "v=spf1 -all"));
  EXPECT_TRUE(IsPolicyRecord(PolicyKind::kSpf, "V=SPF1"));
  EXPECT_FALSE(IsPolicyRecord(PolicyKind::kSpf, "v=spf10 -all"));
  EXPECT_FALSE(IsPolicyRecord(PolicyKind::kSpf, " v=spf1 -all"));
  EXPECT_TRUE(IsPolicyRecord(PolicyKind::kDmarc, "v=DMARC1; p=none"));
  EXPECT_TRUE(IsPolicyRecord(PolicyKind::kDmarc, "v = DMARC1 ;p=none"));
  EXPECT_FALSE(IsPolicyRecord(PolicyKind::kDmarc, "v=dmarc1; p=none"));
  EXPECT_FALSE(IsPolicyRecord(PolicyKind::kDmarc, "p=none; v=DMARC1"));
  EXPECT_TRUE(IsPolicyRecord(PolicyKind::kMtaSts, "v=STSv1; id=1;"));
  EXPECT_FALSE(IsPolicyRecord(PolicyKind::kMtaSts, "v=STSv10; id=1"));
  EXPECT_FALSE(IsPolicyRecord(PolicyKind::kMtaSts, "v=stsv1; id=1"));
  EXPECT_TRUE(IsPolicyRecord(PolicyKind::kTlsRpt, "v=TLSRPTv1; rua=mailto:a@b"));
  EXPECT_FALSE(IsPolicyRecord(PolicyKind::kTlsRpt, "v=TLSRPTv2; rua=mailto:a@b"));
}

TEST(PolicyTest, SeveralMatchesKeepTheFirstInByteOrder) {
  auto sel = SelectPolicy(PolicyKind::kSpf, {"v=spf1 mx -all", "other", "v=spf1 -all"});
  EXPECT_EQ(sel.matches, 2);
  EXPECT_EQ(sel.record, "v=spf1 -all");
  EXPECT_FALSE(SelectPolicy(PolicyKind::kSpf, {"x"}).record.has_value());
}

TEST(PolicyTest, DmarcPolicyTag) {
  EXPECT_EQ(DmarcPolicy("v=DMARC1; p=Reject; rua=mailto:x@y"), "reject");
  EXPECT_EQ(DmarcPolicy("v=DMARC1;sp=none;p = quarantine"), "quarantine");
  EXPECT_FALSE(DmarcPolicy("v=DMARC1; sp=none").has_value());
}

TEST(ClassifyTest, AresStatusesMapToLookupKinds) {
  EXPECT_EQ(ClassifyAresStatus(ARES_SUCCESS), LookupKind::kRecords);
  EXPECT_EQ(ClassifyAresStatus(ARES_ENODATA), LookupKind::kNoData);
  EXPECT_EQ(ClassifyAresStatus(ARES_ENOTFOUND), LookupKind::kNxDomain);
  EXPECT_EQ(ClassifyAresStatus(ARES_ESERVFAIL), LookupKind::kServFail);
  EXPECT_EQ(ClassifyAresStatus(ARES_EFORMERR), LookupKind::kServFail);
  EXPECT_EQ(ClassifyAresStatus(ARES_EREFUSED), LookupKind::kRefused);
  EXPECT_EQ(ClassifyAresStatus(ARES_ETIMEOUT), LookupKind::kTimeout);
  EXPECT_EQ(ClassifyAresStatus(ARES_ECONNREFUSED), LookupKind::kTimeout);
  EXPECT_EQ(ClassifyAresStatus(ARES_EDESTRUCTION), LookupKind::kCancelled);
}

AddressLookup Addr(LookupKind kind, std::vector<std::string> addrs = {}) {
  AddressLookup a;
  a.kind = kind;
  a.answer.addresses = std::move(addrs);
  return a;
}

TlsaLookup NoTlsa() {
  TlsaLookup t;
  t.kind = LookupKind::kNxDomain;
  return t;
}

TEST(AssembleHostTest, StatusFromAddressLookups) {
  auto ok = AssembleHost("mx.test", Addr(LookupKind::kRecords, {"127.0.0.1"}),
                         Addr(LookupKind::kTimeout), NoTlsa());
  EXPECT_EQ(ok.status, DnsStatus::kOk);
  EXPECT_FALSE(ok.cacheable);  // the AAAA answer is unknown
  ASSERT_EQ(ok.notes.size(), 1u);
  EXPECT_EQ(ok.notes[0], "AAAA mx.test: timeout");
  auto none =
      AssembleHost("mx.test", Addr(LookupKind::kNxDomain), Addr(LookupKind::kNxDomain), NoTlsa());
  EXPECT_EQ(none.status, DnsStatus::kNoAddress);
  EXPECT_TRUE(none.cacheable);
  auto fail =
      AssembleHost("mx.test", Addr(LookupKind::kServFail), Addr(LookupKind::kTimeout), NoTlsa());
  EXPECT_EQ(fail.status, DnsStatus::kTimeout);
  TlsaLookup tlsa_fail;
  tlsa_fail.kind = LookupKind::kServFail;
  auto t =
      AssembleHost("mx.test", Addr(LookupKind::kRecords, {"127.0.0.1"}), std::nullopt, tlsa_fail);
  EXPECT_EQ(t.status, DnsStatus::kOk);
  EXPECT_EQ(t.notes, (std::vector<std::string>{"TLSA _25._tcp.mx.test: servfail"}));
}

TEST(AssembleHostTest, TlsaAdBitFromTheResponseHeader) {
  MessageBuilder b("_25._tcp.mx.test", kTypeTlsa);
  b.Tlsa("_25._tcp.mx.test", 3, 1, 1, {0x01}).SetAd(true);
  TlsaLookup t = ParseTlsaReply(ARES_SUCCESS, b.Bytes(), "_25._tcp.mx.test");
  EXPECT_EQ(t.kind, LookupKind::kRecords);
  EXPECT_TRUE(t.ad);
  b.SetAd(false);
  EXPECT_FALSE(ParseTlsaReply(ARES_SUCCESS, b.Bytes(), "_25._tcp.mx.test").ad);
}

MxLookup Mx(std::vector<MxRecord> records) {
  MxLookup m;
  m.kind = records.empty() ? LookupKind::kNoData : LookupKind::kRecords;
  m.records = std::move(records);
  return m;
}

std::array<TxtLookup, kPolicyLookups> NoPolicy() {
  std::array<TxtLookup, kPolicyLookups> p;
  for (auto& t : p) t.kind = LookupKind::kNxDomain;
  return p;
}

TEST(PlanFromMxTest, NullImplicitAndTerminalRoutes) {
  EXPECT_EQ(PlanFromMx("d.test", Mx({{0, ""}})).route, MxPlan::Route::kNullMx);
  auto mixed = PlanFromMx("d.test", Mx({{0, ""}, {10, "mx.test"}}));
  EXPECT_EQ(mixed.route, MxPlan::Route::kHosts);
  ASSERT_EQ(mixed.hosts.size(), 1u);
  EXPECT_EQ(mixed.notes.size(), 1u);
  auto implicit = PlanFromMx("d.test", Mx({}));
  EXPECT_EQ(implicit.route, MxPlan::Route::kImplicit);
  EXPECT_EQ(implicit.hosts[0], (MxRecord{0, "d.test"}));
  MxLookup nx;
  nx.kind = LookupKind::kNxDomain;
  auto term = PlanFromMx("d.test", nx);
  EXPECT_EQ(term.route, MxPlan::Route::kTerminal);
  EXPECT_EQ(term.terminal, DnsStatus::kNxDomain);
}

TEST(AssembleDomainTest, ImplicitMxWithAndWithoutAddress) {
  DomainResult r;
  r.domain = "d.test";
  auto plan = PlanFromMx("d.test", Mx({}));
  HostInfo with;
  with.ipv4 = {"127.0.0.1"};
  AssembleDomain(plan, {&with}, NoPolicy(), &r);
  EXPECT_EQ(r.status, DnsStatus::kOk);
  EXPECT_TRUE(r.implicit_mx);
  ASSERT_EQ(r.mx.size(), 1u);
  EXPECT_EQ(r.mx[0].name, "d.test");
  HostInfo without;
  without.status = DnsStatus::kNoAddress;
  AssembleDomain(plan, {&without}, NoPolicy(), &r);
  EXPECT_EQ(r.status, DnsStatus::kNoMx);
  EXPECT_FALSE(r.implicit_mx);
  EXPECT_TRUE(r.mx.empty());
  without.status = DnsStatus::kTimeout;
  AssembleDomain(plan, {&without}, NoPolicy(), &r);
  EXPECT_EQ(r.status, DnsStatus::kTimeout);
}

TEST(AssembleDomainTest, NoAddressClearsMxAndExplainsInError) {
  DomainResult r;
  r.domain = "d.test";
  auto plan = PlanFromMx("d.test", Mx({{10, "a.test"}, {20, "b.test"}}));
  HostInfo dangling;
  dangling.status = DnsStatus::kNoAddress;
  AssembleDomain(plan, {&dangling, &dangling}, NoPolicy(), &r);
  EXPECT_EQ(r.status, DnsStatus::kNoAddress);
  EXPECT_TRUE(r.mx.empty());
  EXPECT_EQ(r.error, "no MX name has an address: a.test (no_address), b.test (no_address)");
  HostInfo good;
  good.ipv6 = {"::1"};
  AssembleDomain(plan, {&dangling, &good}, NoPolicy(), &r);
  EXPECT_EQ(r.status, DnsStatus::kOk);
  ASSERT_EQ(r.mx.size(), 2u);
  EXPECT_EQ(r.mx[0].status, DnsStatus::kNoAddress);
  EXPECT_FALSE(r.error.has_value());
}

TEST(AssembleDomainTest, PolicyRecordsAndNotes) {
  DomainResult r;
  r.domain = "d.test";
  auto policy = NoPolicy();
  policy[0].kind = LookupKind::kRecords;
  policy[0].txts = {"v=spf1 -all", "v=spf1 mx -all"};
  policy[1].kind = LookupKind::kRecords;
  policy[1].txts = {"v=DMARC1; p=reject"};
  policy[2].kind = LookupKind::kTimeout;
  AssembleDomain(PlanFromMx("d.test", Mx({{0, ""}})), {}, policy, &r);
  EXPECT_EQ(r.status, DnsStatus::kNullMx);
  EXPECT_TRUE(r.null_mx);
  EXPECT_EQ(r.policy.spf, "v=spf1 -all");
  EXPECT_EQ(r.policy.dmarc_policy, "reject");
  EXPECT_FALSE(r.policy.mta_sts.has_value());
  EXPECT_EQ(r.error,
            "2 SPF records at d.test (invalid): kept the first in byte order; "
            "TXT _mta-sts.d.test: timeout");
}

TEST(HostCacheTest, JoinsPendingReusesDoneAndForgetsTransientFailures) {
  HostCache cache(2, 1000);
  int calls = 0;
  std::shared_ptr<const HostInfo> got;
  auto waiter = [&](const std::shared_ptr<const HostInfo>&) { ++calls; };
  EXPECT_EQ(cache.Lookup("a", 0, waiter, &got), HostCache::Hit::kMiss);
  EXPECT_EQ(cache.Lookup("a", 0, waiter, &got), HostCache::Hit::kJoined);
  cache.Complete("a", std::make_shared<HostInfo>(), 0);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(cache.Lookup("a", 999, waiter, &got), HostCache::Hit::kDone);
  EXPECT_NE(got, nullptr);
  EXPECT_EQ(cache.Lookup("a", 1000, waiter, &got), HostCache::Hit::kMiss);  // expired
  auto transient = std::make_shared<HostInfo>();
  transient->cacheable = false;
  cache.Complete("a", transient, 1000);
  EXPECT_EQ(cache.size(), 0u);
  // LRU bound: the oldest finished entry goes.
  for (const char* n : {"x", "y", "z"}) {
    cache.Lookup(n, 0, waiter, &got);
    cache.Complete(n, std::make_shared<HostInfo>(), 0);
  }
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Lookup("x", 1, waiter, &got), HostCache::Hit::kMiss);
}

}  // namespace
}  // namespace mxcensus::dns
