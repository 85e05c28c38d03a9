// The three log formats parsed from the fixtures in tests/fixtures/maillog/ into per-domain
// counts computed by hand from the fixture lines (each fixture's scenarios are listed in
// tests/fixtures/maillog/README.md).
#include "maillog/maillog.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "maillog/envelope.h"
#include "tests/harness/test_util.h"

namespace mxcensus::maillog {
namespace {

using Counts = std::map<std::string, int64_t>;

struct Want {
  std::string domain;
  // messages_in, messages_in_tls, sessions_in, sessions_in_tls,
  // messages_out, deliveries_out, deliveries_out_tls, deferred_out, bounced_out
  std::array<int64_t, 9> n;
  Counts tls_in;
  Counts tls_out;
  std::set<std::string> mx_names;
  std::set<std::string> mx_addresses;
  std::set<std::string> clients;
  std::string last_error;
};

std::string Fixture(const std::string& rel) {
  return testing::SourceDir() + "/tests/fixtures/maillog/" + rel;
}

Observations Read(const std::vector<std::string>& files, Format f = Format::kAuto) {
  ReadOptions opts;
  opts.format = f;
  opts.parse.year = 2026;
  auto obs = ReadLogs(files, opts);
  EXPECT_TRUE(obs.ok()) << obs.status();
  return obs.ok() ? *obs : Observations{};
}

void ExpectDomains(const Observations& obs, const std::vector<Want>& want) {
  std::set<std::string> want_names, got_names;
  for (const auto& w : want) want_names.insert(w.domain);
  for (const auto& [name, d] : obs.domains) got_names.insert(name);
  EXPECT_EQ(got_names, want_names);
  for (const auto& w : want) {
    SCOPED_TRACE(w.domain);
    auto it = obs.domains.find(w.domain);
    if (it == obs.domains.end()) continue;
    const DomainStats& d = it->second;
    std::array<int64_t, 9> got = {d.messages_in,        d.messages_in_tls, d.sessions_in,
                                  d.sessions_in_tls,    d.messages_out,    d.deliveries_out,
                                  d.deliveries_out_tls, d.deferred_out,    d.bounced_out};
    EXPECT_EQ(got, w.n);
    EXPECT_EQ(d.tls_in, w.tls_in);
    EXPECT_EQ(d.tls_out, w.tls_out);
    EXPECT_EQ(d.mx_names, w.mx_names);
    EXPECT_EQ(d.mx_addresses, w.mx_addresses);
    EXPECT_EQ(d.clients, w.clients);
    EXPECT_EQ(d.last_error, w.last_error);
  }
}

const std::string kTls13 = "TLSv1.3 TLS_AES_256_GCM_SHA384";
const std::string kTls12 = "TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384";
const std::set<std::string> kExampleClients = {"mail.example.org[192.0.2.10]",
                                               "mail2.example.org[192.0.2.12]"};

TEST(MaillogTest, RotationOrderReadsOldestFirst) {
  EXPECT_EQ(
      RotationOrder({"/l/maillog", "/l/maillog.1", "/l/maillog.2.gz", "/x/other"}),
      (std::vector<std::string>{"/l/maillog.2.gz", "/l/maillog.1", "/l/maillog", "/x/other"}));
  EXPECT_EQ(RotationOrder({"mail.log", "mail.log-20261127", "mail.log-20261120.gz"}),
            (std::vector<std::string>{"mail.log-20261120.gz", "mail.log-20261127", "mail.log"}));
}

TEST(MaillogTest, PostfixRotatedFilesWithGzipSplitAndInterleavedSessions) {
  // Given newest first on purpose: the reader must order them.
  Observations obs = Read(
      {Fixture("postfix/maillog"), Fixture("postfix/maillog.1"), Fixture("postfix/maillog.2.gz")});
  ASSERT_EQ(obs.files.size(), 3u);
  EXPECT_EQ(obs.files[0].path, Fixture("postfix/maillog.2.gz"));
  for (const auto& f : obs.files) EXPECT_EQ(f.format, "postfix");
  ExpectDomains(
      obs, {{"example.org",
             {4, 3, 3, 2, 1, 1, 0, 0, 0},
             {{kTls13, 1}, {kTls12, 1}},
             {},
             {"mx.example.org"},
             {"192.0.2.11"},
             kExampleClients,
             ""},
            {"plain.test",
             {2, 0, 2, 0, 0, 0, 0, 0, 0},
             {},
             {},
             {},
             {},
             {"smtp.plain.test[192.0.2.20]"},
             ""},
            {"remote.test",
             {0, 0, 0, 0, 2, 1, 1, 0, 1},
             {},
             {{kTls13, 1}},
             {"mx1.remote.test"},
             {"198.51.100.5"},
             {},
             "host mx1.remote.test[198.51.100.5] said: 550 5.1.1 <nobody@remote.test>: Recipient "
             "address rejected: User unknown (in reply to RCPT TO command)"},
            {"slow.test",
             {0, 0, 0, 0, 1, 1, 1, 1, 0},
             {},
             {{"TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384", 1}},
             {"mx.slow.test"},
             {"203.0.113.7"},
             {},
             "connect to mx.slow.test[203.0.113.7]:25: Connection refused"},
            {"split.test",
             {1, 1, 1, 1, 0, 0, 0, 0, 0},
             {{"TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256", 1}},
             {},
             {},
             {},
             {"mx.split.test[203.0.113.30]"},
             ""},
            {"spammy.test",
             {0, 0, 0, 0, 0, 0, 0, 0, 0},
             {},
             {},
             {},
             {},
             {},
             "554 5.7.1 Service unavailable; Client host [198.18.0.9] blocked using zen.example"}});
  EXPECT_EQ(obs.lines.total, 67);
  EXPECT_EQ(obs.lines.used, 52);
  EXPECT_EQ(obs.lines.ignored, 13);
  EXPECT_EQ(obs.lines.unparsed, 1);
  EXPECT_EQ(obs.lines.malformed, 1);
  ASSERT_EQ(obs.lines.samples.size(), 2u);
  EXPECT_NE(obs.lines.samples[0].find("maillog.2.gz:27: no syslog envelope"), std::string::npos)
      << obs.lines.samples[0];
  EXPECT_NE(obs.lines.samples[1].find("maillog.1:7: delivery without"), std::string::npos)
      << obs.lines.samples[1];
}

TEST(MaillogTest, EximMainLog) {
  Observations obs = Read({Fixture("exim/mainlog")});
  ASSERT_EQ(obs.files.size(), 1u);
  EXPECT_EQ(obs.files[0].format, "exim");
  ExpectDomains(
      obs,
      {{"example.org",
        {2, 2, 2, 2, 1, 1, 0, 0, 0},
        {{kTls13, 1}, {kTls12, 1}},
        {},
        {"mx.example.org"},
        {"192.0.2.11"},
        kExampleClients,
        ""},
       {"plain.test",
        {1, 0, 1, 0, 0, 0, 0, 0, 0},
        {},
        {},
        {},
        {},
        {"smtp.plain.test[192.0.2.20]"},
        ""},
       {"remote.test",
        {0, 0, 0, 0, 2, 2, 2, 0, 1},
        {},
        {{kTls12, 2}},
        {"mx1.remote.test"},
        {"198.51.100.5"},
        {},
        "SMTP error from remote mail server after RCPT TO:<nobody@remote.test>: 550 5.1.1 User "
        "unknown"},
       {"slow.test",
        {0, 0, 0, 0, 1, 1, 1, 1, 0},
        {},
        {{kTls13, 1}},
        {"mx.slow.test"},
        {"203.0.113.7"},
        {},
        "Connection refused"},
       {"split.test",
        {1, 0, 1, 0, 0, 0, 0, 0, 0},
        {},
        {},
        {},
        {},
        {"mx.split.test[203.0.113.30]"},
        ""}});
  EXPECT_EQ(obs.lines.total, 27);
  EXPECT_EQ(obs.lines.used, 22);
  EXPECT_EQ(obs.lines.ignored, 3);
  EXPECT_EQ(obs.lines.unparsed, 1);
  EXPECT_EQ(obs.lines.malformed, 1);
}

TEST(MaillogTest, SendmailStartTlsJoinedByProcess) {
  Observations obs = Read({Fixture("sendmail/maillog")});
  ASSERT_EQ(obs.files.size(), 1u);
  EXPECT_EQ(obs.files[0].format, "sendmail");
  ExpectDomains(obs, {{"example.org",
                       {3, 3, 2, 2, 1, 1, 0, 0, 0},
                       {{kTls13, 1}, {kTls12, 1}},
                       {},
                       {"mx.example.org"},
                       {"192.0.2.11"},
                       kExampleClients,
                       ""},
                      {"plain.test",
                       {3, 0, 2, 0, 0, 0, 0, 0, 0},
                       {},
                       {},
                       {},
                       {},
                       {"smtp.plain.test[192.0.2.20]"},
                       ""},
                      {"remote.test",
                       {0, 0, 0, 0, 2, 2, 2, 0, 1},
                       {},
                       {{kTls12, 2}},
                       {"mx1.remote.test"},
                       {"198.51.100.5"},
                       {},
                       "User unknown"},
                      {"slow.test",
                       {0, 0, 0, 0, 1, 1, 1, 1, 0},
                       {},
                       {{kTls13, 1}},
                       {"mx.slow.test"},
                       {"203.0.113.7"},
                       {},
                       "Deferred: Connection refused by mx.slow.test."},
                      {"split.test",
                       {1, 0, 1, 0, 0, 0, 0, 0, 0},
                       {},
                       {},
                       {},
                       {},
                       {"mx.split.test[203.0.113.30]"},
                       ""}});
  EXPECT_EQ(obs.lines.total, 28);
  EXPECT_EQ(obs.lines.used, 21);
  EXPECT_EQ(obs.lines.ignored, 4);
  EXPECT_EQ(obs.lines.unparsed, 1);
  EXPECT_EQ(obs.lines.malformed, 2);
}

TEST(MaillogTest, SinceSkipsOlderLines) {
  ReadOptions opts;
  opts.parse.year = 2026;
  opts.parse.since = *ParseSince("2026-11-28");
  auto obs = ReadLogs(
      {Fixture("postfix/maillog.2.gz"), Fixture("postfix/maillog.1"), Fixture("postfix/maillog")},
      opts);
  ASSERT_TRUE(obs.ok()) << obs.status();
  EXPECT_EQ(obs->lines.before_since, 27 + 10 - 1);  // every dated line of the two older files
  // Only the 28th's sessions: split.test's session began on the 27th, so its TLS is unknown.
  EXPECT_EQ(obs->domains.count("spammy.test"), 0u);
  EXPECT_EQ(obs->domains.at("example.org").messages_in, 2);
  EXPECT_EQ(obs->domains.at("split.test").messages_in_tls, 0);
}

TEST(MaillogTest, WrongFormatCountsLinesNeverFails) {
  Observations obs = Read({Fixture("exim/mainlog")}, Format::kPostfix);
  EXPECT_TRUE(obs.domains.empty());
  EXPECT_EQ(obs.lines.unparsed, 27);
  EXPECT_EQ(obs.lines.samples.size(), 5u);
}

TEST(MaillogTest, EnvelopesAndSince) {
  auto a = ParseSyslog("Nov  8 10:00:01 mx postfix/smtpd[12]: connect from x[1.2.3.4]", 2026);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->time, CivilToUnix(2026, 11, 8, 10, 0, 1));
  EXPECT_EQ(a->program, "postfix/smtpd");
  EXPECT_EQ(a->pid, "12");
  auto b = ParseSyslog("2026-11-28T10:00:01.5+01:00 mx sm-mta[3]: x", 0);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->time, CivilToUnix(2026, 11, 28, 9, 0, 1));
  // A December line read in January belongs to the year before.
  auto c = ParseSyslog("Dec 31 23:00:00 mx sm-mta[3]: x", 2027, CivilToUnix(2027, 1, 2, 0, 0, 0));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->time, CivilToUnix(2026, 12, 31, 23, 0, 0));
  EXPECT_EQ(*ParseSince("2026-11-28T10:00Z"), CivilToUnix(2026, 11, 28, 10, 0, 0));
  EXPECT_FALSE(ParseSince("yesterday").ok());
  EXPECT_EQ(ParseSince("28/11/2026").status().message().find("--since"), 0u);
}

}  // namespace
}  // namespace mxcensus::maillog
