#include "common/outcome.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "proto/mxcensus.pb.h"

namespace mxcensus {
namespace {

TEST(OutcomeTest, NamesRoundTripAndAreUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < kProbeOutcomeCount; ++i) {
    auto o = static_cast<ProbeOutcome>(i);
    std::string name(OutcomeName(o));
    EXPECT_TRUE(seen.insert(name).second) << name;
    ASSERT_TRUE(ParseOutcome(name).has_value()) << name;
    EXPECT_EQ(*ParseOutcome(name), o);
  }
  EXPECT_FALSE(ParseOutcome("STARTTLS_OK").has_value());
  EXPECT_FALSE(ParseOutcome("").has_value());
}

TEST(OutcomeTest, SameSpellingAsProtobufEnum) {
  // JSON/SQL name == protobuf enum name lower-cased, value i+1.
  for (int i = 0; i < kProbeOutcomeCount; ++i) {
    std::string name(OutcomeName(static_cast<ProbeOutcome>(i)));
    std::string upper;
    for (char c : name) upper += static_cast<char>(toupper(c));
    const auto* v = v1::ProbeOutcome_descriptor()->FindValueByName(upper);
    ASSERT_NE(v, nullptr) << upper;
    EXPECT_EQ(v->number(), i + 1) << upper;
  }
}

TEST(OutcomeTest, StagesAndDnsStatusesRoundTrip) {
  for (int i = 0; i < kProbeStageCount; ++i) {
    auto s = static_cast<ProbeStage>(i);
    EXPECT_EQ(ParseStage(StageName(s)), s);
  }
  for (int i = 0; i < kDnsStatusCount; ++i) {
    auto s = static_cast<DnsStatus>(i);
    EXPECT_EQ(ParseDnsStatus(DnsStatusName(s)), s);
  }
}

}  // namespace
}  // namespace mxcensus
