#include "worker/tls/tls_client.h"

#include <gtest/gtest.h>
#include <openssl/dh.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

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

// A CA certificate with the given key usage (MakeCert always grants keyCertSign).
X509Ptr MakeCaWithUsage(EVP_PKEY* key, const std::string& cn, const std::string& usage) {
  X509Ptr c(X509_new());
  X509_set_version(c.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c.get()), 777);
  X509_gmtime_adj(X509_getm_notBefore(c.get()), -86400L);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), 86400L * 365);
  X509_set_pubkey(c.get(), key);
  X509_NAME* name = X509_get_subject_name(c.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(c.get(), name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, c.get(), c.get(), nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair<int, std::string>{NID_basic_constraints, "critical,CA:TRUE"},
                            {NID_key_usage, usage}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
    X509_add_ext(c.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(c.get(), key, EVP_sha256());
  return c;
}

// The same certificate with one bit of its signature's last byte flipped (still DER).
X509Ptr CorruptSignature(X509* cert) {
  std::string der = testing::ToDer(cert);
  der.back() ^= 0x01;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  return X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

std::shared_ptr<ChainVerifier> VerifierTrusting(const std::vector<X509*>& roots, bool tables) {
  ChainVerifier::Options o;
  o.system_store = false;
  for (X509* r : roots) o.ca_pem += testing::ToPem(r);
  o.issuer_table_warmup = 1;
  o.max_issuer_tables = tables ? 4 : 0;
  auto v = ChainVerifier::Create(o);
  EXPECT_TRUE(v.ok()) << v.status();
  return *v;
}

// The issuer tables change how fast a leaf's signature is checked, never the verdict: every
// case gets the same validity and the same OpenSSL error with and without them, and the valid
// ones did go through a table.
TEST(TlsClientTest, IssuerTablesKeepEveryVerdict) {
  const Pki& pki = GetPki();
  KeyAndCert inter;
  inter.key = testing::NewEcKey();
  inter.cert = testing::MakeCert(inter.key.get(), "Test Intermediate", &pki.ca, true);
  KeyAndCert expired_inter;
  expired_inter.key = testing::NewEcKey();
  expired_inter.cert =
      testing::MakeCert(expired_inter.key.get(), "Test Old Intermediate", &pki.ca, true, -400, -35);
  KeyAndCert p384_inter;  // on the generic curve code
  p384_inter.key = EvpPkeyPtr(EVP_EC_gen("P-384"));
  p384_inter.cert =
      testing::MakeCert(p384_inter.key.get(), "Test P-384 Intermediate", &pki.ca, true);
  KeyAndCert signer_only;  // a root whose key usage omits keyCertSign
  signer_only.key = testing::NewEcKey();
  signer_only.cert =
      MakeCaWithUsage(signer_only.key.get(), "Signer Only Root", "critical,digitalSignature");
  struct Case {
    std::string name;
    KeyAndCert leaf;
    std::vector<X509*> extra;
    bool valid;
  };
  std::vector<Case> cases;
  auto add = [&](std::string name, const KeyAndCert* issuer, int nb, int na,
                 std::vector<X509*> extra, bool valid, bool corrupt = false) {
    Case c{std::move(name), {}, std::move(extra), valid};
    c.leaf.key = testing::NewEcKey();
    c.leaf.cert = testing::MakeCert(c.leaf.key.get(), "mx.example.test", issuer, false, nb, na);
    if (corrupt) c.leaf.cert = CorruptSignature(c.leaf.cert.get());
    cases.push_back(std::move(c));
  };
  for (int i = 0; i < 3; ++i) add("by root " + std::to_string(i), &pki.ca, -1, 365, {}, true);
  add("via intermediate", &inter, -1, 365, {inter.cert.get()}, true);
  add("via intermediate again", &inter, -1, 365, {inter.cert.get()}, true);
  add("via P-384 intermediate", &p384_inter, -1, 365, {p384_inter.cert.get()}, true);
  add("bad signature via P-384 intermediate", &p384_inter, -1, 365, {p384_inter.cert.get()}, false,
      true);
  add("expired", &pki.ca, -400, -35, {}, false);
  add("not yet valid", &pki.ca, 10, 365, {}, false);
  add("bad signature", &pki.ca, -1, 365, {}, false, true);
  add("bad signature via intermediate", &inter, -1, 365, {inter.cert.get()}, false, true);
  add("expired intermediate", &expired_inter, -1, 365, {expired_inter.cert.get()}, false);
  add("issuer may not sign certificates", &signer_only, -1, 365, {}, false);
  add("unknown issuer", &inter, -1, 365, {}, false);
  add("self-signed", nullptr, -1, 365, {}, false);

  auto with = VerifierTrusting({pki.ca.cert.get(), signer_only.cert.get()}, true);
  auto without = VerifierTrusting({pki.ca.cert.get(), signer_only.cert.get()}, false);
  for (const Case& c : cases) {
    auto ctx = testing::ServerCtx(c.leaf, c.extra, TLS1_2_VERSION, TLS1_3_VERSION);
    auto a = Handshake(ctx.get(), "mx.example.test", with.get(), "mx.example.test");
    auto b = Handshake(ctx.get(), "mx.example.test", without.get(), "mx.example.test");
    ASSERT_EQ(a.step, TlsClient::Step::kComplete) << c.name << ": " << a.error;
    EXPECT_EQ(a.facts.chain_valid, c.valid) << c.name << ": " << a.facts.verify_error.value_or("");
    EXPECT_EQ(a.facts.chain_valid, b.facts.chain_valid) << c.name;
    EXPECT_EQ(a.facts.verify_error, b.facts.verify_error) << c.name;
  }
  // Through the root's and the intermediates' tables (warm after one use): the six valid
  // leaves, the expired and the not yet valid one (good signatures, bad times: reported by the
  // leaf's steps after the table) and the leaf under the expired intermediate.
  EXPECT_EQ(with->table_verifications(), 9u);
  EXPECT_EQ(without->table_verifications(), 0u);
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
