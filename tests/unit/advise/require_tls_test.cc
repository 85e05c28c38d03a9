// --require-tls on the Postfix fixture set: the counts computed by hand from the fixture
// (tests/fixtures/maillog/README.md): example.org sent 4 messages, 1 without TLS;
// plain.test 2, none with TLS; split.test 1 with TLS.
#include "advise/require_tls.h"

#include <gtest/gtest.h>

#include "maillog/maillog.h"
#include "tests/harness/test_util.h"

namespace mxcensus::advise {
namespace {

TEST(RequireTlsTest, PostfixFixtureCountsByHand) {
  std::string dir = testing::SourceDir() + "/tests/fixtures/maillog/postfix/";
  maillog::ReadOptions opts;
  opts.parse.year = 2026;
  auto obs = maillog::ReadLogs({dir + "maillog.2.gz", dir + "maillog.1", dir + "maillog"}, opts);
  ASSERT_TRUE(obs.ok()) << obs.status();
  // The crawl saw plain.test's MX without STARTTLS; example.org is not in it.
  DomainFacts plain;
  plain.domain = "plain.test";
  plain.status = "ok";
  HostFacts h;
  h.outcome = "no_starttls";
  plain.mx.push_back(MxFacts{"smtp.plain.test", 10, "ok", {h}});
  RequireTlsResult r = SimulateRequireTls(obs->domains, {plain});
  EXPECT_EQ(r.domains_in, 3);
  EXPECT_EQ(r.domains_bouncing, 2);
  EXPECT_EQ(r.domains_all_plain, 1);
  EXPECT_EQ(r.messages_in, 7);
  EXPECT_EQ(r.messages_bouncing, 3);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].domain, "plain.test");
  EXPECT_EQ(r.rows[0].messages_plain, 2);
  EXPECT_EQ(r.rows[0].sessions_plain, 2);
  EXPECT_EQ(r.rows[0].mx_starttls, "none");
  EXPECT_EQ(r.rows[1].domain, "example.org");
  EXPECT_EQ(r.rows[1].messages_in, 4);
  EXPECT_EQ(r.rows[1].messages_plain, 1);
  EXPECT_EQ(r.rows[1].sessions_plain, 1);
  EXPECT_EQ(r.rows[1].mx_starttls, "unknown");
  auto j = RequireTlsToJson(r);
  EXPECT_EQ(j["messages_would_bounce"], 3);
  EXPECT_NE(RequireTlsText(r, false).find("2 of 3 sending domains"), std::string::npos);
}

}  // namespace
}  // namespace mxcensus::advise
