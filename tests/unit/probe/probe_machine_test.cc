#include "worker/probe/probe_machine.h"

#include <gtest/gtest.h>

#include "tests/unit/probe/fake_transport.h"

namespace mxcensus::probe {
namespace {

using testing::MachineHarness;

constexpr std::string_view kBanner = "220 mx.example.test ESMTP\r\n";
constexpr std::string_view kEhloTls =
    "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 STARTTLS\r\n";
constexpr std::string_view kEhloPlain = "250-mx.example.test\r\n250 PIPELINING\r\n";

TEST(ProbeMachineTest, StartTlsOkWalksEveryStage) {
  MachineHarness h;
  h.machine.Start(1700000000123);
  EXPECT_EQ(h.transport.connects, 1);
  EXPECT_EQ(h.transport.deadlines.back(), 10000u);
  h.machine.OnConnected(ConnectResult::kOk, "");
  EXPECT_EQ(h.transport.deadlines.back(), 30000u);
  h.machine.OnBytes(kBanner);
  EXPECT_EQ(h.transport.LastWrite(), "EHLO probe.test\r\n");
  h.machine.OnBytes(kEhloTls);
  EXPECT_EQ(h.transport.LastWrite(), "STARTTLS\r\n");
  h.machine.OnBytes("220 2.0.0 Ready to start TLS\r\n");
  EXPECT_TRUE(h.transport.tls_started);
  EXPECT_EQ(h.transport.sni, "mx.example.test");
  EXPECT_EQ(h.transport.deadlines.back(), 15000u);
  h.machine.OnTlsDone(MachineHarness::GoodTls());
  EXPECT_EQ(h.transport.LastWrite(), "EHLO probe.test\r\n");
  h.machine.OnBytes("250-mx.example.test\r\n250 SIZE 1000\r\n");
  EXPECT_EQ(h.transport.LastWrite(), "QUIT\r\n");
  EXPECT_EQ(h.transport.deadlines.back(), 2000u);
  EXPECT_EQ(h.done_calls, 0);
  h.machine.OnBytes("221 bye\r\n");
  ASSERT_EQ(h.done_calls, 1);
  EXPECT_EQ(h.transport.closes, 1);
  const ProbeResult& r = h.result;
  EXPECT_EQ(r.outcome, ProbeOutcome::kStartTlsOk);
  EXPECT_EQ(r.stage, ProbeStage::kQuit);
  EXPECT_FALSE(r.error.has_value());
  EXPECT_EQ(r.banner, "220 mx.example.test ESMTP");
  EXPECT_EQ(r.ehlo,
            (std::vector<std::string>{"mx.example.test", "PIPELINING", "SIZE 1000", "STARTTLS"}));
  EXPECT_EQ(r.ehlo_tls, (std::vector<std::string>{"mx.example.test", "SIZE 1000"}));
  EXPECT_EQ(r.codes.banner, 220);
  EXPECT_EQ(r.codes.ehlo, 250);
  EXPECT_EQ(r.codes.starttls, 220);
  EXPECT_EQ(r.codes.ehlo_tls, 250);
  EXPECT_EQ(r.codes.quit, 221);
  ASSERT_TRUE(r.tls.has_value());
  EXPECT_EQ(r.tls->version, "TLSv1.3");
  EXPECT_FALSE(r.pipelined_after_starttls);
  EXPECT_FALSE(r.helo_fallback);
  EXPECT_EQ(r.started_at_ms, 1700000000123);
  for (auto t : {r.timing_ms.connect, r.timing_ms.banner, r.timing_ms.ehlo, r.timing_ms.starttls,
                 r.timing_ms.tls, r.timing_ms.ehlo_tls, r.timing_ms.quit}) {
    ASSERT_TRUE(t.has_value());
    EXPECT_GT(*t, 0);
  }
  EXPECT_GT(r.timing_ms.total, 0);
  // Never MAIL FROM, ever.
  for (const auto& w : h.transport.writes) EXPECT_EQ(w.find("MAIL"), std::string::npos);
}

TEST(ProbeMachineTest, NoStartTlsQuits) {
  MachineHarness h;
  h.Connect();
  h.machine.OnBytes(kBanner);
  h.machine.OnBytes(kEhloPlain);
  EXPECT_EQ(h.transport.LastWrite(), "QUIT\r\n");
  h.machine.OnBytes("221 2.0.0 Bye\r\n");
  EXPECT_EQ(h.result.outcome, ProbeOutcome::kNoStartTls);
  EXPECT_EQ(h.result.stage, ProbeStage::kQuit);
  EXPECT_FALSE(h.result.tls.has_value());
}

TEST(ProbeMachineTest, MaskedStartTlsIsStripped) {
  for (const char* masked : {"XXXXXXXA", "XXXXXXXX"}) {
    MachineHarness h;
    h.Connect();
    h.machine.OnBytes(kBanner);
    h.machine.OnBytes("250-mx\r\n250-PIPELINING\r\n250 " + std::string(masked) + "\r\n");
    h.machine.OnBytes("221 bye\r\n");
    EXPECT_EQ(h.result.outcome, ProbeOutcome::kStartTlsStripped) << masked;
    EXPECT_EQ(h.result.stage, ProbeStage::kQuit);
  }
}

TEST(ProbeMachineTest, StartTls454YieldsStartTlsRefused) {
  MachineHarness h;
  h.Connect();
  h.machine.OnBytes(kBanner);
  h.machine.OnBytes(kEhloTls);
  h.machine.OnBytes("454 4.7.0 TLS not available due to local problem\r\n");
  EXPECT_EQ(h.transport.LastWrite(), "QUIT\r\n");
  EXPECT_FALSE(h.transport.tls_started);
  h.machine.OnBytes("221 bye\r\n");
  EXPECT_EQ(h.result.outcome, ProbeOutcome::kStartTlsRefused);
  EXPECT_EQ(h.result.codes.starttls, 454);
  EXPECT_EQ(h.result.stage, ProbeStage::kQuit);
}

TEST(ProbeMachineTest, HandshakeFailureIsTlsFailedWithoutPlaintextQuit) {
  MachineHarness h;
  h.Connect();
  h.machine.OnBytes(kBanner);
  h.machine.OnBytes(kEhloTls);
  h.machine.OnBytes("220 go\r\n");
  size_t writes = h.transport.writes.size();
  TlsFacts failed;
  failed.alert = "sslv3 alert handshake failure";
  h.machine.OnTlsDone(failed);
  ASSERT_EQ(h.done_calls, 1);
  EXPECT_EQ(h.transport.writes.size(), writes);  // no QUIT in plaintext into a TLS stream
  EXPECT_EQ(h.result.outcome, ProbeOutcome::kTlsFailed);
  EXPECT_EQ(h.result.stage, ProbeStage::kTls);
  ASSERT_TRUE(h.result.tls.has_value());
  EXPECT_FALSE(h.result.tls->handshake_complete);
  EXPECT_EQ(h.result.tls->alert, "sslv3 alert handshake failure");
  EXPECT_NE(h.result.error->find("handshake failure"), std::string::npos);
}

TEST(ProbeMachineTest, RejectedBannerSendsQuitAndKeepsBannerStage) {
  for (const char* banner : {"554 5.7.1 go away\r\n", "421 4.3.2 busy\r\n"}) {
    MachineHarness h;
    h.Connect();
    h.machine.OnBytes(banner);
    EXPECT_EQ(h.transport.LastWrite(), "QUIT\r\n");
    h.machine.OnPeerClosed("eof");
    EXPECT_EQ(h.result.outcome, ProbeOutcome::kBannerRejected) << banner;
    EXPECT_EQ(h.result.stage, ProbeStage::kBanner);
    EXPECT_FALSE(h.result.error.has_value());
  }
}

TEST(ProbeMachineTest, EhloRejectedFallsBackToHelo) {
  MachineHarness h;
  h.Connect();
  h.machine.OnBytes(kBanner);
  h.machine.OnBytes("502 5.5.2 Error: command not recognized\r\n");
  EXPECT_EQ(h.transport.LastWrite(), "HELO probe.test\r\n");
  h.machine.OnBytes("250 mx.example.test\r\n");
  h.machine.OnBytes("221 bye\r\n");
  EXPECT_EQ(h.result.outcome, ProbeOutcome::kNoStartTls);
  EXPECT_TRUE(h.result.helo_fallback);
  EXPECT_EQ(h.result.codes.ehlo, 502);
  EXPECT_EQ(h.result.codes.helo, 250);
  EXPECT_EQ(h.result.stage, ProbeStage::kQuit);
}

TEST(ProbeMachineTest, EhloAndHeloRejected) {
  MachineHarness h;
  h.Connect();
  h.machine.OnBytes(kBanner);
  h.machine.OnBytes("550 no\r\n");
  h.machine.OnBytes("550 no either\r\n");
  EXPECT_EQ(h.transport.LastWrite(), "QUIT\r\n");
  h.machine.OnBytes("221 bye\r\n");
  EXPECT_EQ(h.result.outcome, ProbeOutcome::kEhloRejected);
  EXPECT_EQ(h.result.stage, ProbeStage::kHelo);
  EXPECT_TRUE(h.result.helo_fallback);
}

TEST(ProbeMachineTest, Ehlo421IsRejectedWithoutHelo) {
  MachineHarness h;
  h.Connect();
  h.machine.OnBytes(kBanner);
  h.machine.OnBytes("421 shutting down\r\n");
  EXPECT_EQ(h.transport.LastWrite(), "QUIT\r\n");
  h.machine.OnPeerClosed("eof");
  EXPECT_EQ(h.result.outcome, ProbeOutcome::kEhloRejected);
  EXPECT_EQ(h.result.stage, ProbeStage::kEhlo);
  EXPECT_FALSE(h.result.helo_fallback);
}

TEST(ProbeMachineTest, HttpServerIsProtocolErrorAtBanner) {
  MachineHarness h;
  h.Connect();
  h.machine.OnBytes("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(h.done_calls, 1);
  EXPECT_EQ(h.result.outcome, ProbeOutcome::kProtocolError);
  EXPECT_EQ(h.result.stage, ProbeStage::kBanner);
  EXPECT_TRUE(h.result.error.has_value());
}

TEST(ProbeMachineTest, OversizedEhloIsProtocolError) {
  MachineHarness h;
  h.Connect();
  h.machine.OnBytes(kBanner);
  std::string chunk;
  for (int i = 0; i < 64; ++i) chunk += "250-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\n";
  for (int i = 0; i < 100 && h.done_calls == 0; ++i) h.machine.OnBytes(chunk);
  EXPECT_EQ(h.result.outcome, ProbeOutcome::kProtocolError);
  EXPECT_EQ(h.result.stage, ProbeStage::kEhlo);
}

TEST(ProbeMachineTest, ByteCapPerProbeIsProtocolError) {
  auto o = MachineHarness::DefaultOptions();
  o.max_bytes_per_probe = 100;
  MachineHarness h(o);
  h.Connect();
  h.machine.OnBytes(kBanner);
  h.machine.OnBytes("250-" + std::string(90, 'a') + "\r\n");
  EXPECT_EQ(h.result.outcome, ProbeOutcome::kProtocolError);
  EXPECT_NE(h.result.error->find("more than 100 bytes"), std::string::npos);
}

TEST(ProbeMachineTest, CloseAfterBannerIsClosedAtEhlo) {
  MachineHarness h;
  h.Connect();
  h.machine.OnBytes(kBanner);
  h.machine.OnPeerClosed("eof");
  EXPECT_EQ(h.result.outcome, ProbeOutcome::kClosed);
  EXPECT_EQ(h.result.stage, ProbeStage::kEhlo);
  EXPECT_NE(h.result.error->find("eof"), std::string::npos);
}

TEST(ProbeMachineTest, ConnectRefusedAndFailed) {
  MachineHarness a;
  a.machine.Start(0);
  a.machine.OnConnected(ConnectResult::kRefused, "ECONNREFUSED");
  EXPECT_EQ(a.result.outcome, ProbeOutcome::kConnectRefused);
  EXPECT_EQ(a.result.stage, ProbeStage::kConnect);
  MachineHarness b;
  b.machine.Start(0);
  b.machine.OnConnected(ConnectResult::kFailed, "ENETUNREACH");
  EXPECT_EQ(b.result.outcome, ProbeOutcome::kConnectFailed);
  EXPECT_EQ(*b.result.error, "connect: ENETUNREACH");
}

TEST(ProbeMachineTest, InjectionAfterStartTls220IsFlaggedAndDiscarded) {
  MachineHarness h;
  h.Connect();
  h.machine.OnBytes(kBanner);
  h.machine.OnBytes(kEhloTls);
  h.machine.OnBytes("220 go ahead\r\n250 injected\r\n");
  EXPECT_TRUE(h.transport.tls_started);
  h.machine.OnTlsDone(MachineHarness::GoodTls());
  // The injected "250" must not be taken as the answer to the EHLO inside TLS.
  EXPECT_EQ(h.transport.LastWrite(), "EHLO probe.test\r\n");
  h.machine.OnBytes("250 mx\r\n");
  h.machine.OnBytes("221 bye\r\n");
  EXPECT_EQ(h.result.outcome, ProbeOutcome::kStartTlsOk);
  EXPECT_TRUE(h.result.pipelined_after_starttls);
  EXPECT_EQ(h.result.ehlo_tls, std::vector<std::string>{"mx"});
}

TEST(ProbeMachineTest, PartialLineAfterStartTls220IsAlsoInjection) {
  MachineHarness h;
  h.Connect();
  h.machine.OnBytes(kBanner);
  h.machine.OnBytes(kEhloTls);
  h.machine.OnBytes("220 go ahead\r\nxx");
  EXPECT_TRUE(h.result.pipelined_after_starttls || h.transport.tls_started);
  h.machine.OnTlsDone(MachineHarness::GoodTls());
  h.machine.OnBytes("250 mx\r\n221 bye\r\n");
  EXPECT_TRUE(h.result.pipelined_after_starttls);
}

TEST(ProbeMachineTest, TimeoutNamesTheStage) {
  struct Case {
    std::vector<std::string> server;  // replies before the silence
    ProbeStage stage;
    uint32_t armed;
  };
  std::vector<Case> cases = {
      {{}, ProbeStage::kBanner, 30000},
      {{std::string(kBanner)}, ProbeStage::kEhlo, 30000},
      {{std::string(kBanner), "502 no\r\n"}, ProbeStage::kHelo, 30000},
      {{std::string(kBanner), std::string(kEhloTls)}, ProbeStage::kStartTls, 30000},
      {{std::string(kBanner), std::string(kEhloTls), "220 go\r\n"}, ProbeStage::kTls, 15000},
  };
  for (const auto& c : cases) {
    MachineHarness h;
    h.Connect();
    for (const auto& s : c.server) h.machine.OnBytes(s);
    EXPECT_EQ(h.transport.deadlines.back(), c.armed);
    h.machine.OnDeadline();
    ASSERT_EQ(h.done_calls, 1);
    EXPECT_EQ(h.result.outcome, ProbeOutcome::kTimeout);
    EXPECT_EQ(h.result.stage, c.stage) << StageName(c.stage);
    EXPECT_NE(h.result.error->find("timeout"), std::string::npos);
  }
  MachineHarness connect;
  connect.machine.Start(0);
  connect.machine.OnDeadline();
  EXPECT_EQ(connect.result.outcome, ProbeOutcome::kTimeout);
  EXPECT_EQ(connect.result.stage, ProbeStage::kConnect);
}

TEST(ProbeMachineTest, QuitTimeoutKeepsTheOutcome) {
  MachineHarness h;
  h.Connect();
  h.machine.OnBytes(kBanner);
  h.machine.OnBytes(kEhloPlain);
  h.machine.OnDeadline();
  EXPECT_EQ(h.result.outcome, ProbeOutcome::kNoStartTls);
  EXPECT_EQ(h.result.stage, ProbeStage::kQuit);
  EXPECT_FALSE(h.result.error.has_value());
}

TEST(ProbeMachineTest, EhloInsideTlsProblemsKeepStartTlsOk) {
  MachineHarness h;
  h.Connect();
  h.machine.OnBytes(kBanner);
  h.machine.OnBytes(kEhloTls);
  h.machine.OnBytes("220 go\r\n");
  h.machine.OnTlsDone(MachineHarness::GoodTls());
  h.machine.OnPeerClosed("eof");
  EXPECT_EQ(h.result.outcome, ProbeOutcome::kStartTlsOk);
  EXPECT_EQ(h.result.stage, ProbeStage::kEhloTls);
  EXPECT_TRUE(h.result.error.has_value());
}

TEST(ProbeMachineTest, EofInEveryStateEndsExactlyOnce) {
  // The server transcript; EOF is injected after each prefix of it.
  std::vector<std::string> script = {std::string(kBanner), std::string(kEhloTls),
                                     "220 go\r\n",         "TLS",
                                     "250 mx\r\n",         "221 bye\r\n"};
  std::vector<ProbeOutcome> expected = {ProbeOutcome::kClosed,     ProbeOutcome::kClosed,
                                        ProbeOutcome::kClosed,     ProbeOutcome::kTlsFailed,
                                        ProbeOutcome::kStartTlsOk, ProbeOutcome::kStartTlsOk,
                                        ProbeOutcome::kStartTlsOk};
  for (size_t n = 0; n <= script.size(); ++n) {
    MachineHarness h;
    h.Connect();
    for (size_t i = 0; i < n; ++i) {
      if (script[i] == "TLS") {
        h.machine.OnTlsDone(MachineHarness::GoodTls());
      } else {
        h.machine.OnBytes(script[i]);
      }
    }
    h.machine.OnPeerClosed("eof");
    h.machine.OnPeerClosed("eof");
    h.machine.OnDeadline();
    EXPECT_EQ(h.done_calls, 1) << "after " << n;
    EXPECT_EQ(h.transport.closes, 1);
    EXPECT_EQ(h.result.outcome, expected[n])
        << "after " << n << ": " << OutcomeName(h.result.outcome);
  }
}

// The whole server side split at every byte boundary (and LF-only) gives the same result.
TEST(ProbeMachineTest, SplitReadsAtEveryByteBoundary) {
  const std::vector<std::string> server = {std::string(kBanner), std::string(kEhloTls),
                                           "220 go\r\n"};
  const std::string all = server[0] + server[1] + server[2];
  for (bool lf_only : {false, true}) {
    for (size_t chunk = 1; chunk <= 16; ++chunk) {
      MachineHarness h;
      h.Connect();
      for (const auto& reply : server) {
        std::string bytes = reply;
        if (lf_only) {
          std::string t;
          for (char c : bytes) {
            if (c != '\r') t += c;
          }
          bytes = t;
        }
        for (size_t i = 0; i < bytes.size(); i += chunk) h.machine.OnBytes(bytes.substr(i, chunk));
      }
      ASSERT_TRUE(h.transport.tls_started) << "chunk " << chunk;
      EXPECT_FALSE(h.result.pipelined_after_starttls);
      h.machine.OnTlsDone(MachineHarness::GoodTls());
      h.machine.OnBytes("250 mx\r\n");
      h.machine.OnBytes("221 bye\r\n");
      EXPECT_EQ(h.result.outcome, ProbeOutcome::kStartTlsOk);
      EXPECT_EQ(h.result.ehlo.size(), 4u);
    }
  }
  // One cut anywhere in the concatenated transcript (replies sent back to back).
  for (size_t cut = 1; cut < all.size(); ++cut) {
    MachineHarness h;
    h.Connect();
    h.machine.OnBytes(all.substr(0, cut));
    h.machine.OnBytes(all.substr(cut));
    EXPECT_TRUE(h.transport.tls_started) << cut;
  }
}

TEST(ProbeMachineTest, EventsAfterDoneAreIgnored) {
  MachineHarness h;
  h.Connect();
  h.machine.OnBytes("554 no\r\n");
  h.machine.OnBytes("221 bye\r\n");
  ASSERT_EQ(h.done_calls, 1);
  h.machine.OnBytes("220 again\r\n");
  h.machine.OnDeadline();
  h.machine.OnPeerClosed("eof");
  h.machine.OnTlsDone(MachineHarness::GoodTls());
  h.machine.OnConnected(ConnectResult::kOk, "");
  EXPECT_EQ(h.done_calls, 1);
  EXPECT_TRUE(h.machine.done());
}

TEST(ProbeMachineTest, MultilineBannerIsKeptWhole) {
  MachineHarness h;
  h.Connect();
  h.machine.OnBytes("220-mx.example.test ESMTP\r\n220-second\r\n220 third\r\n");
  EXPECT_EQ(h.result.banner, "");  // not yet emitted
  h.machine.OnBytes(kEhloPlain);
  h.machine.OnBytes("221 bye\r\n");
  EXPECT_EQ(h.result.banner, "220-mx.example.test ESMTP\n220-second\n220 third");
}

}  // namespace
}  // namespace mxcensus::probe
