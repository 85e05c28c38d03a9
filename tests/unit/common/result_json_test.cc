#include "common/result_json.h"

#include <gtest/gtest.h>

namespace mxcensus {
namespace {

ProbeResult Sample() {
  ProbeResult r;
  r.ip = "127.20.0.5";
  r.port = 2525;
  r.name = "mx1.example.test";
  r.outcome = ProbeOutcome::kStartTlsOk;
  r.stage = ProbeStage::kQuit;
  r.banner = "220 mx1.example.test ESMTP";
  r.ehlo = {"mx1.example.test", "PIPELINING", "STARTTLS"};
  r.codes.banner = 220;
  r.codes.ehlo = 250;
  r.codes.starttls = 220;
  TlsFacts t;
  t.version = "TLSv1.3";
  t.cipher = "TLS_AES_256_GCM_SHA384";
  t.group = "x25519";
  t.chain_der = {std::string("\x30\x82\x00\xff\x00", 5)};
  CertSummary leaf;
  leaf.sha256_hex = std::string(64, 'a');
  leaf.subject = "CN=mx1.example.test";
  leaf.issuer = "CN=lab CA";
  leaf.sans = {"mx1.example.test"};
  leaf.not_before = 1767225600;  // 2026-01-01
  leaf.not_after = 1798761600;   // 2027-01-01
  leaf.key_type = "ec";
  leaf.key_bits = 256;
  leaf.sig_alg = "ecdsa-with-SHA256";
  t.leaf = leaf;
  t.chain_valid = true;
  t.name_match = true;
  t.handshake_complete = true;
  r.tls = t;
  r.timing_ms.connect = 0.2;
  r.timing_ms.total = 5.0;
  r.started_at_ms = 1795867200123;
  return r;
}

TEST(ResultJsonTest, ProbeResultHasDesignFieldNames) {
  auto j = ProbeResultToJson(Sample());
  EXPECT_EQ(j["outcome"], "starttls_ok");
  EXPECT_EQ(j["stage"], "quit");
  EXPECT_TRUE(j["error"].is_null());
  EXPECT_EQ(j["codes"]["starttls"], 220);
  EXPECT_FALSE(j["codes"].contains("helo"));
  EXPECT_EQ(j["tls"]["leaf"]["not_before"], "2026-01-01T00:00:00Z");
  EXPECT_TRUE(j["tls"]["dh_bits"].is_null());
  EXPECT_EQ(j["tls"]["chain"][0], "MIIA/wA=");
  EXPECT_EQ(j["started_at"], "2026-11-28T12:00:00.123Z");
}

TEST(ResultJsonTest, ProbeResultRoundTrips) {
  auto original = Sample();
  auto back = ProbeResultFromJson(ProbeResultToJson(original));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(ProbeResultToJson(*back), ProbeResultToJson(original));
  EXPECT_EQ(back->tls->chain_der[0], original.tls->chain_der[0]);
}

TEST(ResultJsonTest, NoTlsIsNull) {
  auto r = Sample();
  r.tls.reset();
  r.outcome = ProbeOutcome::kNoStartTls;
  auto j = ProbeResultToJson(r);
  EXPECT_TRUE(j["tls"].is_null());
  auto back = ProbeResultFromJson(j);
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->tls.has_value());
}

TEST(ResultJsonTest, RejectsUnknownOutcome) {
  auto j = ProbeResultToJson(Sample());
  j["outcome"] = "starttls_maybe";
  EXPECT_FALSE(ProbeResultFromJson(j).ok());
}

TEST(ResultJsonTest, DomainResultRoundTrips) {
  DomainResult d;
  d.domain = "example.test";
  d.status = DnsStatus::kOk;
  MxHost h;
  h.name = "mx1.example.test";
  h.preference = 10;
  h.ipv4 = {"127.20.0.5"};
  h.tlsa = {TlsaRecord{3, 1, 1, "abcd"}};
  h.tlsa_ad = true;
  d.mx = {h};
  d.policy.dmarc = "v=DMARC1; p=reject";
  d.policy.dmarc_policy = "reject";
  d.resolved_at_ms = 1795867200000;
  auto back = DomainResultFromJson(DomainResultToJson(d));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(DomainResultToJson(*back), DomainResultToJson(d));
}

TEST(ResultJsonTest, Base64AndTime) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    auto back = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, s);
  }
  EXPECT_FALSE(Base64Decode("ab$c").ok());
  EXPECT_EQ(*ParseTimeMs("2026-11-28T12:00:00.123Z"), 1795867200123);
  EXPECT_EQ(*ParseTimeMs("2026-11-28T12:00:00Z"), 1795867200000);
  EXPECT_FALSE(ParseTimeMs("2026-11-28 12:00").ok());
}

}  // namespace
}  // namespace mxcensus
