#include "common/result_json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>

#include "tests/harness/test_config.h"

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

// The reference: the nlohmann tree dumped as `mxcensus probe` dumped it before the direct writer.
std::string Reference(const ProbeResult& r) {
  return ProbeResultToJson(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string Fast(const ProbeResult& r) {
  std::string out = "prefix";  // appends, never overwrites
  AppendProbeResultJson(r, &out);
  EXPECT_EQ(out.compare(0, 6, "prefix"), 0);
  return out.substr(6);
}

TEST(ResultJsonWriterTest, SampleMatchesReferenceAndParses) {
  auto r = Sample();
  EXPECT_EQ(Fast(r), Reference(r));
  auto back = ProbeResultFromJson(nlohmann::json::parse(Fast(r)));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(Reference(*back), Reference(r));
}

TEST(ResultJsonWriterTest, EveryOutcomeAndStage) {
  for (int o = 0; o < kProbeOutcomeCount; ++o) {
    for (ProbeStage st :
         {ProbeStage::kConnect, ProbeStage::kBanner, ProbeStage::kEhlo, ProbeStage::kHelo,
          ProbeStage::kStartTls, ProbeStage::kTls, ProbeStage::kEhloTls, ProbeStage::kQuit}) {
      auto r = Sample();
      r.outcome = static_cast<ProbeOutcome>(o);
      r.stage = st;
      EXPECT_EQ(Fast(r), Reference(r)) << o;
      r.tls.reset();
      r.codes = {};
      r.error = "connect: ECONNREFUSED";
      EXPECT_EQ(Fast(r), Reference(r)) << o;
    }
  }
}

// Strings a hostile server can put in a result: every single byte, escapes, every kind of
// broken UTF-8 (lone continuation, truncated, overlong, surrogates, beyond U+10FFFF, a sequence
// cut by an ASCII or a lead byte, at the end), and valid multi-byte text.
std::vector<std::string> HostileStrings() {
  std::vector<std::string> v = {"",
                                "\"",
                                "\\",
                                "a\"b\\c",
                                "\b\f\n\r\t\x0b\x1f\x7f",
                                std::string("nul\0in", 6),
                                "\x80",
                                "\xbf",
                                "\xc0\x80",
                                "\xc1\xbf",
                                "\xc3",
                                "\xc3(",
                                "\xc3\xa9",
                                "caf\xc3\xa9",
                                "\xe2\x82",
                                "\xe2\x82\xac",
                                "\xe2\x28\xa1",
                                "\xe0\x80\xaf",
                                "\xed\xa0\x80",
                                "\xef\xbf\xbd",
                                "\xf0\x9f\x98\x80",
                                "\xf0\x9f\x98",
                                "\xf4\x90\x80\x80",
                                "\xf5\x80\x80\x80",
                                "\xfe\xff",
                                "\xc3\xc3\xa9",
                                "\xe2\x82\xc3\xa9",
                                "\xf0\x9f\x98\x80\x80",
                                "x\xe2\x82",
                                "\xa9\xa9\xa9ok"};
  for (int b = 0; b < 256; ++b) {
    v.push_back(std::string(1, static_cast<char>(b)));
    v.push_back("220 " + std::string(1, static_cast<char>(b)) + " end");
  }
  // The fuzz corpora hold the bytes hostile servers were found to send.
  for (const char* corpus : {"reply_parser_corpus", "probe_machine_corpus"}) {
    auto dir = std::filesystem::path(testing::kSourceDir) / "tests/fuzz" / corpus;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      std::ifstream in(e.path(), std::ios::binary);
      v.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  }
  return v;
}

TEST(ResultJsonWriterTest, HostileStringsInEveryTextField) {
  for (const auto& s : HostileStrings()) {
    auto r = Sample();
    r.banner = s;
    r.ehlo = {s, "PIPELINING", s};
    r.ehlo_tls = {s};
    r.error = s;
    r.name = s;
    r.tag = s;
    r.ip = s;
    r.tls->version = s;
    r.tls->cipher = s;
    r.tls->group = s;
    r.tls->alert = s;
    r.tls->verify_error = s;
    r.tls->chain_der = {s, s + "x", s + "xy"};
    r.tls->leaf->subject = s;
    r.tls->leaf->issuer = s;
    r.tls->leaf->sans = {s};
    r.tls->leaf->sig_alg = s;
    r.tls->leaf->key_type = s;
    EXPECT_EQ(Fast(r), Reference(r)) << ::testing::PrintToString(s);
  }
}

TEST(ResultJsonWriterTest, Numbers) {
  for (double d : {0.0, -0.0, 0.1, 0.2, 1.0, 5.0, 1e-5, 1.5e-7, 123456.789, 1e15, 1e16, 1e17,
                   1.7976931348623157e308, 4.9e-324, -3.25, 30000.0, 0.30000000000000004,
                   std::numeric_limits<double>::infinity(), std::nan("")}) {
    auto r = Sample();
    r.timing_ms.total = d;
    r.timing_ms.tls = d;
    EXPECT_EQ(Fast(r), Reference(r)) << d;
  }
  for (int v :
       {0, -1, 7, 220, 999, std::numeric_limits<int>::max(), std::numeric_limits<int>::min()}) {
    auto r = Sample();
    r.codes.quit = v;
    r.codes.helo = v;
    r.tls->dh_bits = v;
    r.tls->leaf->key_bits = v;
    r.port = static_cast<uint16_t>(v);
    r.started_at_ms = int64_t{v} * 1000 + 7;
    r.tls->leaf->not_before = v;
    EXPECT_EQ(Fast(r), Reference(r)) << v;
  }
}

// Many random results: every optional set or not, random field contents (mostly hostile).
TEST(ResultJsonWriterTest, RandomResultsMatchReference) {
  auto pool = HostileStrings();
  std::mt19937_64 rng(20261128);
  auto coin = [&] { return (rng() & 1) != 0; };
  auto text = [&]() -> std::string {
    switch (rng() % 4) {
      case 0:
        return pool[rng() % pool.size()];
      case 1: {
        std::string s(rng() % 40, '\0');
        for (auto& c : s) c = static_cast<char>(rng());
        return s;
      }
      case 2:
        return "mx" + std::to_string(rng() % 1000) + ".example.test";
      default:
        return pool[rng() % pool.size()] + pool[rng() % pool.size()];
    }
  };
  auto opt_int = [&]() -> std::optional<int> {
    if (coin()) return std::nullopt;
    return static_cast<int>(rng() % 1000);
  };
  auto opt_ms = [&]() -> std::optional<double> {
    if (coin()) return std::nullopt;
    return static_cast<double>(rng() % 10000000) / 1000.0;
  };
  for (int k = 0; k < 5000; ++k) {
    ProbeResult r;
    r.ip = text();
    r.port = static_cast<uint16_t>(rng());
    r.name = text();
    r.tag = coin() ? "" : text();
    r.outcome = static_cast<ProbeOutcome>(rng() % kProbeOutcomeCount);
    r.stage = static_cast<ProbeStage>(rng() % kProbeStageCount);
    if (coin()) r.error = text();
    r.banner = text();
    for (size_t i = rng() % 5; i > 0; --i) r.ehlo.push_back(text());
    for (size_t i = rng() % 3; i > 0; --i) r.ehlo_tls.push_back(text());
    r.helo_fallback = coin();
    r.pipelined_after_starttls = coin();
    r.codes = {opt_int(), opt_int(), opt_int(), opt_int(), opt_int(), opt_int()};
    r.timing_ms = {opt_ms(), opt_ms(), opt_ms(), opt_ms(),
                   opt_ms(), opt_ms(), opt_ms(), static_cast<double>(rng() % 100000) / 7.0};
    r.started_at_ms = static_cast<int64_t>(rng() % 4000000000000ULL);
    if (coin()) {
      TlsFacts t;
      if (coin()) t.version = text();
      if (coin()) t.cipher = text();
      if (coin()) t.group = text();
      if (coin()) t.dh_bits = opt_int();
      for (size_t i = rng() % 4; i > 0; --i) t.chain_der.push_back(text());
      if (coin()) {
        CertSummary c;
        c.sha256_hex = text();
        c.subject = text();
        c.issuer = text();
        for (size_t i = rng() % 3; i > 0; --i) c.sans.push_back(text());
        c.not_before = static_cast<int64_t>(rng() % 4000000000ULL);
        c.not_after = static_cast<int64_t>(rng() % 4000000000ULL);
        c.key_type = text();
        c.key_bits = static_cast<int>(rng() % 8192);
        c.sig_alg = text();
        c.self_signed = coin();
        t.leaf = c;
      }
      t.chain_valid = coin();
      if (coin()) t.verify_error = text();
      t.name_match = coin();
      if (coin()) t.alert = text();
      t.handshake_complete = coin();
      r.tls = t;
    }
    ASSERT_EQ(Fast(r), Reference(r)) << "result " << k;
  }
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
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
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
