// Diagnoses from synthetic crawl facts, the knowledge base's coverage, and the drafts.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string_view>

#include "advise/diagnose.h"
#include "advise/knowledge.h"
#include "advise/render.h"

namespace mxcensus::advise {
namespace {

HostFacts GoodHost(const std::string& ip) {
  HostFacts h;
  h.ip = ip;
  h.outcome = "starttls_ok";
  h.stage = "quit";
  h.banner = "220 mx1.example.org ESMTP Postfix (Debian/GNU)";
  h.mta_software = "postfix";
  h.handshake_complete = true;
  h.tls_version = "TLSv1.3";
  h.tls_cipher = "TLS_AES_256_GCM_SHA384";
  h.chain_valid = true;
  h.name_match = true;
  h.subject = "CN=mx1.example.org";
  h.issuer = "CN=R3";
  h.not_before = "2026-10-01T00:00:00Z";
  h.not_after = "2026-12-30T00:00:00Z";
  h.sans = {"mx1.example.org"};
  return h;
}

DomainFacts Domain(std::vector<HostFacts> hosts) {
  DomainFacts d;
  d.domain = "example.org";
  d.status = "ok";
  d.mta_sts = "v=STSv1; id=1";
  d.tls_rpt = "v=TLSRPTv1; rua=mailto:r@example.org";
  d.mx.push_back(MxFacts{"mx1.example.org", 10, "ok", std::move(hosts)});
  return d;
}

std::set<std::string> Codes(const DomainAdvice& a) {
  std::set<std::string> out;
  for (const auto& d : a.findings) out.insert(std::string(Info(d.finding).code));
  return out;
}

TEST(AdviseTest, HealthyDomainHasNoFindings) {
  EXPECT_TRUE(Diagnose(Domain({GoodHost("192.0.2.1")})).findings.empty());
}

TEST(AdviseTest, EachProblemGivesItsFinding) {
  struct Case {
    std::function<void(HostFacts&)> change;
    std::set<std::string> want;
  };
  std::vector<Case> cases = {
      {[](HostFacts& h) { h.outcome = "no_starttls"; }, {"no_starttls"}},
      {[](HostFacts& h) { h.outcome = "starttls_stripped"; }, {"starttls_masked"}},
      {[](HostFacts& h) {
         h.outcome = "starttls_refused";
         h.code_starttls = 454;
       },
       {"starttls_refused"}},
      {[](HostFacts& h) { h.outcome = "tls_failed"; }, {"tls_handshake_failed"}},
      {[](HostFacts& h) { h.outcome = "timeout"; }, {"mx_unreachable"}},
      {[](HostFacts& h) { h.outcome = "banner_rejected"; }, {"smtp_session_failed"}},
      {[](HostFacts& h) { h.tls_version = "TLSv1"; }, {"old_tls_version"}},
      {[](HostFacts& h) { h.dh_bits = 1024; }, {"weak_dh"}},
      {[](HostFacts& h) { h.dh_bits = 2048; }, {}},
      {[](HostFacts& h) {
         h.chain_valid = false;
         h.verify_error = "certificate has expired";
         h.cert_verdict = "expired";
       },
       {"cert_expired"}},
      {[](HostFacts& h) {
         h.chain_valid = false;
         h.verify_error = "self-signed certificate";
         h.cert_verdict = "self_signed";
       },
       {"cert_self_signed"}},
      {[](HostFacts& h) {
         h.chain_valid = false;
         h.verify_error = "unable to get local issuer certificate";
         h.cert_verdict = "untrusted_chain";
       },
       {"cert_incomplete_chain"}},
      {[](HostFacts& h) {
         // An untrusted root sent along: the leaf is not self-signed, the chain is untrusted.
         h.chain_valid = false;
         h.verify_error = "self-signed certificate in certificate chain";
         h.cert_verdict = "untrusted_chain";
       },
       {"cert_incomplete_chain"}},
      {[](HostFacts& h) {
         h.chain_valid = false;
         h.verify_error = "CA signature digest algorithm too weak";
         h.cert_verdict = "weak_key_or_signature";
       },
       {"cert_incomplete_chain"}},
      {[](HostFacts& h) {
         h.name_match = false;
         h.cert_verdict = "valid_name_mismatch";
       },
       {"cert_name_mismatch"}},
      {[](HostFacts& h) { h.name_match = false; }, {"cert_name_mismatch"}},
      {[](HostFacts& h) { h.pipelined_after_starttls = true; }, {"starttls_injection"}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    HostFacts h = GoodHost("192.0.2.1");
    cases[i].change(h);
    // A second, healthy MX address: findings name only the failing one.
    DomainAdvice a = Diagnose(Domain({h, GoodHost("192.0.2.2")}));
    EXPECT_EQ(Codes(a), cases[i].want);
    for (const auto& d : a.findings) {
      EXPECT_EQ(d.ip, "192.0.2.1");
      EXPECT_EQ(d.evidence["mx"], "mx1.example.org");
      EXPECT_NE(d.observed.find("mx1.example.org [192.0.2.1]:25"), std::string::npos);
    }
  }
}

TEST(AdviseTest, DomainLevelFindings) {
  DomainFacts d = Domain({GoodHost("192.0.2.1")});
  d.mta_sts.clear();
  d.tls_rpt.clear();
  d.mx.push_back(MxFacts{"old-mx.example.org", 20, "no_address", {}});
  EXPECT_EQ(Codes(Diagnose(d)),
            (std::set<std::string>{"mx_no_address", "no_mta_sts", "no_tls_rpt"}));
  d.status = "servfail";
  EXPECT_EQ(Codes(Diagnose(d)), (std::set<std::string>{"dns_failure"}));
  d.status = "null_mx";
  EXPECT_TRUE(Diagnose(d).findings.empty());
}

// The names come from the SQL function mxcensus_mta_software (views_test checks its rules).
TEST(AdviseTest, SoftwareFromSqlNames) {
  EXPECT_EQ(SoftwareFromSqlName("postfix"), Software::kPostfix);
  EXPECT_EQ(SoftwareFromSqlName("exim"), Software::kExim);
  EXPECT_EQ(SoftwareFromSqlName("sendmail"), Software::kSendmail);
  EXPECT_EQ(SoftwareFromSqlName("microsoft"), Software::kExchange);
  for (const char* n : {"qmail", "other", "unknown", ""}) {
    EXPECT_EQ(SoftwareFromSqlName(n), Software::kOther) << n;
  }
  HostFacts h = GoodHost("192.0.2.1");
  h.outcome = "no_starttls";
  h.mta_software = "exim";
  DomainAdvice a = Diagnose(Domain({h}));
  ASSERT_EQ(a.findings.size(), 1u);
  EXPECT_EQ(a.findings[0].software, Software::kExim);
}

TEST(AdviseTest, DraftIsAnRfc5322Message) {
  HostFacts h = GoodHost("192.0.2.1");
  h.outcome = "no_starttls";
  std::string m = NotificationDraft(Diagnose(Domain({h})), {"ops@our.test", 1795000000});
  size_t body = m.find("\r\n\r\n");
  ASSERT_NE(body, std::string::npos);
  std::string head = m.substr(0, body + 2);
  for (const char* field : {"From: ops@our.test\r\n", "To: postmaster@example.org\r\n",
                            "Date: ", "Message-ID: <", "Subject: ", "MIME-Version: 1.0\r\n"}) {
    EXPECT_NE(head.find(field), std::string::npos) << field;
  }
  // Only CRLF line ends, lines within RFC 5322's 998 limit.
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\n') {
      EXPECT_EQ(m[i - 1], '\r');
    }
  }
  size_t longest = 0;
  for (size_t at = 0, nl; at < m.size(); at = nl + 2) {
    nl = m.find("\r\n", at);
    if (nl == std::string::npos) nl = m.size();
    longest = std::max(longest, nl - at);
  }
  EXPECT_LE(longest, 998u);
  EXPECT_NE(m.find("smtpd_tls_security_level = may"), std::string::npos);
}

TEST(AdviseTest, DraftLinesStayShortWhateverThePeerSent) {
  HostFacts h = GoodHost("192.0.2.1");
  h.outcome = "banner_rejected";
  // A hostile greeting: 5,000 bytes without a space, with control characters.
  h.banner = "554 " + std::string(2500, 'x') + "\r\n\x1b[31m" + std::string(2500, 'y');
  std::string m = NotificationDraft(Diagnose(Domain({h})), {"ops@our.test", 1795000000});
  ASSERT_NE(m.find("xxxxxxxxxx"), std::string::npos);  // the greeting is quoted, cut at 200
  for (size_t at = 0, nl; at < m.size(); at = nl + 2) {
    nl = m.find("\r\n", at);
    if (nl == std::string::npos) nl = m.size();
    std::string_view line(m.data() + at, nl - at);
    EXPECT_LE(line.size(), 100u) << line;
    for (char c : line) EXPECT_FALSE(c == '\r' || c == '\n' || c == '\x1b') << line;
  }
}

}  // namespace
}  // namespace mxcensus::advise
