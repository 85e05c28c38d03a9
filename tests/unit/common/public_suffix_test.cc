#include "common/public_suffix.h"

#include <gtest/gtest.h>

namespace mxcensus {
namespace {

TEST(PublicSuffix, RegistrableDomainsOfTheSystemList) {
  auto psl = PublicSuffixList::System();
  ASSERT_TRUE(psl.ok()) << psl.status();
  EXPECT_EQ((*psl)->RegistrableDomain("aspmx.l.google.com"), "google.com");
  EXPECT_EQ((*psl)->RegistrableDomain("MX1.Example.CO.UK."), "example.co.uk");
  EXPECT_EQ((*psl)->RegistrableDomain("mail.protection.outlook.com"), "outlook.com");
  // A public suffix itself has no registrable part: the name stands for itself.
  EXPECT_EQ((*psl)->RegistrableDomain("co.uk"), "co.uk");
  EXPECT_EQ((*psl)->RegistrableDomain("localhost"), "localhost");
  // Unknown TLDs follow the default rule "*": every lab name collapses to lab.test...
  EXPECT_EQ((*psl)->RegistrableDomain("mx1.p1.lab.test"), "lab.test");
}

TEST(PublicSuffix, ExtraRulesWinWhenLonger) {
  auto psl = PublicSuffixList::WithExtraRules("// the lab\n\n  lab.test  \r\n.Other.Test.\n", "x");
  ASSERT_TRUE(psl.ok()) << psl.status();
  // ...unless lab.test is declared a suffix.
  EXPECT_EQ((*psl)->RegistrableDomain("mx1.p1.lab.test"), "p1.lab.test");
  EXPECT_EQ((*psl)->RegistrableDomain("mx2.bigmail.lab.test."), "bigmail.lab.test");
  EXPECT_EQ((*psl)->RegistrableDomain("d5.lab.test"), "d5.lab.test");
  EXPECT_EQ((*psl)->RegistrableDomain("lab.test"), "lab.test");
  EXPECT_EQ((*psl)->RegistrableDomain("a.b.other.test"), "b.other.test");
  // Names outside the extra rules keep the system list's answer.
  EXPECT_EQ((*psl)->RegistrableDomain("mx.example.com"), "example.com");
  EXPECT_EQ((*psl)->RegistrableDomain("notlab.test"), "notlab.test");
  EXPECT_EQ((*psl)->RegistrableDomain("x.notlab.test"), "notlab.test");
}

TEST(PublicSuffix, BadRulesNameTheLine) {
  auto psl = PublicSuffixList::WithExtraRules("lab.test\n*.wild.test\n", "extra.dat");
  ASSERT_FALSE(psl.ok());
  EXPECT_NE(psl.status().message().find("extra.dat:2:"), std::string::npos) << psl.status();
  EXPECT_FALSE(PublicSuffixList::WithExtraRules("!exception.test\n", "f").ok());
  EXPECT_FALSE(PublicSuffixList::WithExtraRules("a..b\n", "f").ok());
}

TEST(PublicSuffix, ProcessListUsesExtraRulesFromAFile) {
  EXPECT_EQ(ProcessPublicSuffixList()->RegistrableDomain("mx.example.org"), "example.org");
  auto missing = UseExtraPublicSuffixRules("--psl-extra", "/nonexistent/psl.dat");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("--psl-extra"), std::string::npos) << missing;
}

}  // namespace
}  // namespace mxcensus
