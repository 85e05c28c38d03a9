#include "lab/profiles.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace mxcensus::lab {
namespace {

TEST(ProfileCatalogueTest, NamesAreUniqueAndParse) {
  std::set<std::string> names;
  for (const auto& info : ProfileCatalogue()) {
    EXPECT_TRUE(names.insert(std::string(info.name)).second) << info.name;
    ASSERT_TRUE(ParseProfile(info.name).has_value());
    EXPECT_EQ(*ParseProfile(info.name), info.profile);
    EXPECT_EQ(&Info(info.profile), &info);
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(kProfileCount));
  EXPECT_FALSE(ParseProfile("modern").has_value());
}

TEST(ProfileCatalogueTest, TlsExpectationsFollowTheOutcome) {
  for (const auto& info : ProfileCatalogue()) {
    SCOPED_TRACE(std::string(info.name));
    // tls_stall times out inside the handshake: attempted, a timeout, not tls_failed.
    const bool tls_outcome = info.outcome == ProbeOutcome::kStartTlsOk ||
                             info.outcome == ProbeOutcome::kTlsFailed ||
                             info.profile == Profile::kTlsStall;
    EXPECT_EQ(info.tls.attempted, tls_outcome);
    EXPECT_EQ(info.tls.complete, info.outcome == ProbeOutcome::kStartTlsOk);
    // A completed handshake needs a certificate and a server TLS configuration, and nothing
    // else does.
    EXPECT_EQ(info.tls.complete, info.cert_kind != CertKind::kNone);
    EXPECT_EQ(info.tls.complete, info.tls_kind != TlsKind::kNone);
    if (info.tls.complete) {
      EXPECT_EQ(info.tls.group.empty(), info.tls.dh_bits != 0) << "group xor DH";
      EXPECT_EQ(info.stage, ProbeStage::kQuit);
    }
    // Only tls_stall (a benchmark's profile) is left out of the default mix.
    EXPECT_EQ(info.default_weight > 0, info.profile != Profile::kTlsStall);
    EXPECT_FALSE(info.summary.empty());
  }
  EXPECT_EQ(Info(Profile::kTlsStall).outcome, ProbeOutcome::kTimeout);
  EXPECT_EQ(Info(Profile::kTlsStall).stage, ProbeStage::kTls);
  EXPECT_TRUE(Info(Profile::kStartTlsInjection).pipelined_after_starttls);
  EXPECT_TRUE(Info(Profile::kEhlo502HeloOk).helo_fallback);
  EXPECT_EQ(Info(Profile::kTarpit).outcome, ProbeOutcome::kTimeout);
  EXPECT_EQ(Info(Profile::kTarpit).stage, ProbeStage::kBanner);
  EXPECT_EQ(Info(Profile::kConnectRefused).stage, ProbeStage::kConnect);
}

TEST(ParseMixTest, ReadsWeightsCommentsAndBlankLines) {
  auto mix = ParseMix("# comment\nmodern_tls13 95\n\n  tarpit\t5  # slow\r\n", "m.txt");
  ASSERT_TRUE(mix.ok()) << mix.status();
  EXPECT_EQ((*mix)[static_cast<size_t>(Profile::kModernTls13)], 95u);
  EXPECT_EQ((*mix)[static_cast<size_t>(Profile::kTarpit)], 5u);
  EXPECT_EQ((*mix)[static_cast<size_t>(Profile::kExpired)], 0u);
}

TEST(ParseMixTest, ErrorsNameTheLine) {
  auto unknown = ParseMix("modern_tls13 1\nbogus 2\n", "m.txt");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(std::string(unknown.status().message()), "m.txt:2: unknown profile 'bogus'");
  auto weight = ParseMix("tarpit x\n", "m.txt");
  ASSERT_FALSE(weight.ok());
  EXPECT_NE(std::string(weight.status().message()).find("m.txt:1: weight"), std::string::npos);
  EXPECT_FALSE(ParseMix("tarpit 1\ntarpit 2\n", "m").ok());
  EXPECT_FALSE(ParseMix("tarpit 0\n", "m").ok());
  EXPECT_FALSE(ParseMix("", "m").ok());
  EXPECT_FALSE(ParseMix("tarpit -1\n", "m").ok());
  EXPECT_FALSE(ParseMix("tarpit\n", "m").ok());
}

}  // namespace
}  // namespace mxcensus::lab
