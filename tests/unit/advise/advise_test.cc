// Diagnoses from synthetic crawl facts, the knowledge base's coverage, and the drafts.
#include <gtest/gtest.h>

#include <set>

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
       },
       {"cert_expired"}},
      {[](HostFacts& h) {
         h.chain_valid = false;
         h.self_signed = true;
         h.verify_error = "self-signed certificate";
       },
       {"cert_self_signed"}},
      {[](HostFacts& h) {
         h.chain_valid = false;
         h.verify_error = "unable to get local issuer certificate";
       },
       {"cert_incomplete_chain"}},
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

TEST(AdviseTest, SoftwareFromGreetingAndEhlo) {
  EXPECT_EQ(DetectSoftware("220 mx ESMTP Postfix (Debian/GNU)", {}), Software::kPostfix);
  EXPECT_EQ(DetectSoftware("220 mx ESMTP Exim 4.96 Sat, 28 Nov 2026", {}), Software::kExim);
  EXPECT_EQ(DetectSoftware("220 mx ESMTP Sendmail 8.17.1/8.17.1; Sat", {}), Software::kSendmail);
  EXPECT_EQ(DetectSoftware("220 mx Microsoft ESMTP MAIL Service ready", {}), Software::kExchange);
  EXPECT_EQ(DetectSoftware("220 mx ESMTP", {"mx", "X-EXPS GSSAPI NTLM"}), Software::kExchange);
  EXPECT_EQ(DetectSoftware("220 mx ESMTP mxcensus-lab", {"mx", "STARTTLS"}), Software::kOther);
}

// Every finding about a host that the MTA's configuration controls has a fix for Postfix, Exim,
// Sendmail and Exchange; the others have a software-independent one.
TEST(AdviseTest, KnowledgeBaseCoversEveryFinding) {
  const std::set<Finding> independent = {Finding::kDnsFailure,      Finding::kMxNoAddress,
                                         Finding::kStartTlsMasked,  Finding::kStartTlsInjection,
                                         Finding::kCertNotYetValid, Finding::kCertNameMismatch,
                                         Finding::kNoMtaSts,        Finding::kNoTlsRpt};
  for (const FindingInfo& info : AllFindings()) {
    SCOPED_TRACE(std::string(info.code));
    std::set<Software> have;
    for (const FixInfo* f : FixesFor(info.finding, Software::kOther)) have.insert(f->software);
    if (independent.count(info.finding)) {
      EXPECT_TRUE(have.count(Software::kAny));
    } else {
      for (Software s :
           {Software::kPostfix, Software::kExim, Software::kSendmail, Software::kExchange}) {
        EXPECT_TRUE(have.count(s) || have.count(Software::kAny)) << SoftwareName(s);
      }
    }
    // A detected software gets only its own fix (plus the independent one).
    for (const FixInfo* f : FixesFor(info.finding, Software::kExim)) {
      EXPECT_TRUE(f->software == Software::kExim || f->software == Software::kAny);
    }
  }
}

TEST(AdviseTest, PostfixHostGetsPostfixConfigLines) {
  HostFacts h = GoodHost("192.0.2.1");
  h.dh_bits = 1024;
  auto j = AdviceToJson({Diagnose(Domain({h}))}, 7);
  const auto& finding = j["domains"][0]["findings"][0];
  EXPECT_EQ(finding["code"], "weak_dh");
  EXPECT_EQ(finding["software"], "postfix");
  ASSERT_EQ(finding["fixes"].size(), 1u);
  EXPECT_EQ(finding["fixes"][0]["software"], "postfix");
  EXPECT_NE(finding["fixes"][0]["config"].get<std::string>().find("smtpd_tls_dh1024_param_file"),
            std::string::npos);
  EXPECT_EQ(finding["evidence"]["dh_bits"], 1024);
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
  EXPECT_NE(m.find("smtpd_tls_security_level = may"), std::string::npos);
}

}  // namespace
}  // namespace mxcensus::advise
