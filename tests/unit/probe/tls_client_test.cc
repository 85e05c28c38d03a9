#include "worker/tls/tls_client.h"

#include <gtest/gtest.h>
#include <openssl/dh.h>
#include <openssl/err.h>

#include "tests/unit/probe/cert_util.h"
#include "worker/tls/chain_verifier.h"
#include "worker/tls/client_context.h"
#include "worker/tls/session_facts.h"

namespace mxcensus::tls {
namespace {

using testing::KeyAndCert;

// A CA, an intermediate and leaves, made once for the whole suite.
struct Pki {
  Pki() {
    ca.key = testing::NewEcKey();
    ca.cert = testing::MakeCert(ca.key.get(), "Test Root", nullptr, true);
    leaf.key = testing::NewEcKey();
    leaf.cert = testing::MakeCert(leaf.key.get(), "mx.example.test", &ca, false);
    self.key = testing::NewEcKey();
    self.cert = testing::MakeCert(self.key.get(), "mx.example.test", nullptr, false);
    expired.key = testing::NewEcKey();
    expired.cert = testing::MakeCert(expired.key.get(), "mx.example.test", &ca, false, -400, -35);
    rsa_leaf.key = testing::NewRsaKey(2048);
    rsa_leaf.cert = testing::MakeCert(rsa_leaf.key.get(), "mx.example.test", &ca, false);
  }
  KeyAndCert ca, leaf, self, expired, rsa_leaf;
};
const Pki& GetPki() {
  static const Pki* pki = new Pki();
  return *pki;
}

struct HandshakeResult {
  TlsClient::Step step = TlsClient::Step::kWantMore;
  TlsFacts facts;
  std::string error;
};

// Runs client and server against each other through memory, then collects the facts.
HandshakeResult Handshake(SSL_CTX* server_ctx, const std::string& sni, ChainVerifier* verifier,
                          const std::string& mx_name, bool garbage_server = false) {
  auto client_ctx = ClientContext::Create();
  EXPECT_TRUE(client_ctx.ok());
  auto client = TlsClient::Create((*client_ctx)->get(), sni);
  EXPECT_TRUE(client.ok());
  SslPtr server(SSL_new(server_ctx));
  BIO* s_in = BIO_new(BIO_s_mem());
  BIO* s_out = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(s_in, -1);
  SSL_set_bio(server.get(), s_in, s_out);
  SSL_set_accept_state(server.get());
  HandshakeResult hr;
  hr.step = (*client)->Start();
  for (int round = 0; round < 20 && hr.step == TlsClient::Step::kWantMore; ++round) {
    std::string to_server;
    (*client)->TakeOutput(&to_server);
    std::string to_client;
    if (garbage_server) {
      to_client = "500 this is not TLS at all\r\n";
    } else {
      BIO_write(s_in, to_server.data(), static_cast<int>(to_server.size()));
      SSL_do_handshake(server.get());
      ERR_clear_error();
      char buf[16384];
      int n;
      while ((n = BIO_read(s_out, buf, sizeof buf)) > 0) to_client.append(buf, n);
    }
    if (to_client.empty()) break;
    hr.step = (*client)->FeedHandshake(to_client);
  }
  hr.facts.handshake_complete = hr.step == TlsClient::Step::kComplete;
  CollectSessionFacts((*client)->ssl(), &hr.facts);
  if (verifier) verifier->Fill((*client)->ssl(), mx_name, &hr.facts);
  hr.error = (*client)->error();
  return hr;
}

std::shared_ptr<ChainVerifier> LabVerifier() {
  ChainVerifier::Options o;
  o.system_store = false;
  o.ca_pem = testing::ToPem(GetPki().ca.cert.get());
  auto v = ChainVerifier::Create(o);
  EXPECT_TRUE(v.ok()) << v.status();
  return *v;
}

TEST(TlsClientTest, Tls13EcdsaRecordsEverything) {
  const Pki& pki = GetPki();
  auto ctx = testing::ServerCtx(pki.leaf, {}, TLS1_2_VERSION, TLS1_3_VERSION);
  SSL_CTX_set1_groups_list(ctx.get(), "X25519");
  auto v = LabVerifier();
  auto hr = Handshake(ctx.get(), "mx.example.test", v.get(), "mx.example.test");
  ASSERT_EQ(hr.step, TlsClient::Step::kComplete) << hr.error;
  EXPECT_EQ(hr.facts.version, "TLSv1.3");
  EXPECT_EQ(hr.facts.cipher, "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(hr.facts.group, "x25519");
  EXPECT_FALSE(hr.facts.dh_bits.has_value());
  ASSERT_EQ(hr.facts.chain_der.size(), 1u);
  EXPECT_EQ(hr.facts.chain_der[0], testing::ToDer(pki.leaf.cert.get()));
  ASSERT_TRUE(hr.facts.leaf.has_value());
  EXPECT_EQ(hr.facts.leaf->sha256_hex, Sha256Hex(testing::ToDer(pki.leaf.cert.get())));
  EXPECT_EQ(hr.facts.leaf->subject, "CN=mx.example.test");
  EXPECT_EQ(hr.facts.leaf->issuer, "CN=Test Root");
  EXPECT_EQ(hr.facts.leaf->sans, std::vector<std::string>{"mx.example.test"});
  EXPECT_EQ(hr.facts.leaf->key_type, "ec");
  EXPECT_EQ(hr.facts.leaf->key_bits, 256);
  EXPECT_EQ(hr.facts.leaf->sig_alg, "ecdsa-with-SHA256");
  EXPECT_FALSE(hr.facts.leaf->self_signed);
  EXPECT_GT(hr.facts.leaf->not_after, hr.facts.leaf->not_before);
  EXPECT_TRUE(hr.facts.chain_valid);
  EXPECT_FALSE(hr.facts.verify_error.has_value());
  EXPECT_TRUE(hr.facts.name_match);
}

TEST(TlsClientTest, NameCheckIsIndependentOfChainValidity) {
  const Pki& pki = GetPki();
  auto ctx = testing::ServerCtx(pki.leaf, {}, TLS1_2_VERSION, TLS1_3_VERSION);
  auto v = LabVerifier();
  auto hr = Handshake(ctx.get(), "other.example.test", v.get(), "other.example.test");
  ASSERT_EQ(hr.step, TlsClient::Step::kComplete);
  EXPECT_TRUE(hr.facts.chain_valid);
  EXPECT_FALSE(hr.facts.name_match);
}

TEST(TlsClientTest, VerifyErrorsUseOpenSslText) {
  const Pki& pki = GetPki();
  auto v = LabVerifier();
  auto self_ctx = testing::ServerCtx(pki.self, {}, TLS1_2_VERSION, TLS1_3_VERSION);
  auto hr = Handshake(self_ctx.get(), "mx.example.test", v.get(), "mx.example.test");
  ASSERT_EQ(hr.step, TlsClient::Step::kComplete);
  EXPECT_FALSE(hr.facts.chain_valid);
  EXPECT_EQ(hr.facts.verify_error, "self-signed certificate");
  EXPECT_TRUE(hr.facts.leaf->self_signed);
  EXPECT_TRUE(hr.facts.name_match);

  auto exp_ctx = testing::ServerCtx(pki.expired, {}, TLS1_2_VERSION, TLS1_3_VERSION);
  hr = Handshake(exp_ctx.get(), "mx.example.test", v.get(), "mx.example.test");
  EXPECT_FALSE(hr.facts.chain_valid);
  EXPECT_EQ(hr.facts.verify_error, "certificate has expired");

  // Without the CA in the store the same leaf has no issuer.
  ChainVerifier::Options none;
  none.system_store = false;
  auto empty = ChainVerifier::Create(none);
  ASSERT_TRUE(empty.ok());
  auto ctx = testing::ServerCtx(pki.leaf, {}, TLS1_2_VERSION, TLS1_3_VERSION);
  hr = Handshake(ctx.get(), "mx.example.test", empty->get(), "mx.example.test");
  EXPECT_EQ(hr.facts.verify_error, "unable to get local issuer certificate");
}

TEST(TlsClientTest, EachDistinctChainIsVerifiedOnce) {
  const Pki& pki = GetPki();
  auto v = LabVerifier();
  auto ctx = testing::ServerCtx(pki.leaf, {}, TLS1_2_VERSION, TLS1_3_VERSION);
  for (int i = 0; i < 5; ++i) {
    auto hr =
        Handshake(ctx.get(), "mx.example.test", v.get(), i % 2 ? "mx.example.test" : "no.test");
    EXPECT_TRUE(hr.facts.chain_valid);
    EXPECT_EQ(hr.facts.name_match, i % 2 == 1);  // the name is checked every time
  }
  EXPECT_EQ(v->cache_misses(), 1u);
  EXPECT_EQ(v->cache_hits(), 4u);
}

TEST(TlsClientTest, LegacyTls10IsObserved) {
  const Pki& pki = GetPki();
  auto ctx = testing::ServerCtx(pki.leaf, {}, TLS1_VERSION, TLS1_VERSION);
  auto hr = Handshake(ctx.get(), "mx.example.test", LabVerifier().get(), "mx.example.test");
  ASSERT_EQ(hr.step, TlsClient::Step::kComplete) << hr.error;
  EXPECT_EQ(hr.facts.version, "TLSv1");
  EXPECT_EQ(hr.facts.group, "x25519");
}

TEST(TlsClientTest, WeakDheRecordsDhBits) {
  const Pki& pki = GetPki();
  auto ctx = testing::ServerCtx(pki.rsa_leaf, {}, TLS1_2_VERSION, TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx.get(), "DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0");
  // RFC 2409 group 2 (1024 bits), what weak-DH servers still ship.
  BIGNUM* p = BN_get_rfc2409_prime_1024(nullptr);
  BIGNUM* g = BN_new();
  BN_set_word(g, 2);
  // The low-level DH API is the shortest way to a fixed legacy group in a test.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  DH* dh = DH_new();
  DH_set0_pqg(dh, p, nullptr, g);
  SSL_CTX_set_tmp_dh(ctx.get(), dh);
  DH_free(dh);
#pragma GCC diagnostic pop
  auto hr = Handshake(ctx.get(), "mx.example.test", LabVerifier().get(), "mx.example.test");
  ASSERT_EQ(hr.step, TlsClient::Step::kComplete) << hr.error;
  EXPECT_EQ(hr.facts.version, "TLSv1.2");
  EXPECT_EQ(hr.facts.group, "");
  EXPECT_EQ(hr.facts.dh_bits, 1024);
  EXPECT_EQ(hr.facts.leaf->key_type, "rsa");
  EXPECT_EQ(hr.facts.leaf->key_bits, 2048);
}

TEST(TlsClientTest, GarbageInsteadOfServerHelloFails) {
  const Pki& pki = GetPki();
  auto ctx = testing::ServerCtx(pki.leaf, {}, TLS1_2_VERSION, TLS1_3_VERSION);
  auto hr = Handshake(ctx.get(), "mx.example.test", LabVerifier().get(), "mx.example.test", true);
  EXPECT_EQ(hr.step, TlsClient::Step::kFailed);
  EXPECT_FALSE(hr.error.empty());
  EXPECT_TRUE(hr.facts.version.empty());
  EXPECT_TRUE(hr.facts.chain_der.empty());
}

TEST(TlsClientTest, NoSharedCipherIsAnAlert) {
  const Pki& pki = GetPki();
  // An ECDSA-only server limited to RSA suites cannot serve anything.
  auto ctx = testing::ServerCtx(pki.leaf, {}, TLS1_2_VERSION, TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx.get(), "AES128-SHA");
  auto hr = Handshake(ctx.get(), "mx.example.test", nullptr, "mx.example.test");
  EXPECT_EQ(hr.step, TlsClient::Step::kFailed);
  EXPECT_NE(hr.error.find("alert"), std::string::npos) << hr.error;
}

TEST(TlsClientTest, SniIsNotSentForIpLiterals) {
  auto ctx = ClientContext::Create();
  ASSERT_TRUE(ctx.ok());
  auto a = TlsClient::Create((*ctx)->get(), "192.0.2.1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(SSL_get_servername((*a)->ssl(), TLSEXT_NAMETYPE_host_name), nullptr);
  auto b = TlsClient::Create((*ctx)->get(), "mx.example.test.");
  ASSERT_TRUE(b.ok());
  EXPECT_STREQ(SSL_get_servername((*b)->ssl(), TLSEXT_NAMETYPE_host_name), "mx.example.test");
}

}  // namespace
}  // namespace mxcensus::tls
