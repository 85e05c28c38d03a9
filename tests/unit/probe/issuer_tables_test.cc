#include "worker/tls/issuer_tables.h"

#include <gtest/gtest.h>

#include "tests/unit/probe/cert_util.h"

namespace mxcensus::tls {
namespace {

using testing::KeyAndCert;

KeyAndCert Ca(EvpPkeyPtr key, const std::string& cn) {
  KeyAndCert ca;
  ca.key = std::move(key);
  ca.cert = testing::MakeCert(ca.key.get(), cn, nullptr, true);
  return ca;
}

X509Ptr Leaf(const KeyAndCert& issuer, const EVP_MD* md = nullptr) {
  EvpPkeyPtr key = testing::NewEcKey();
  X509Ptr leaf = testing::MakeCert(key.get(), "mx.example.test", &issuer, false);
  if (md != nullptr) X509_sign(leaf.get(), issuer.key.get(), md);
  return leaf;
}

bool Verify(IssuerTables& t, X509* leaf, X509* issuer) {
  return t.Verify(leaf, testing::ToDer(leaf), issuer);
}

TEST(IssuerTablesTest, TableAfterWarmupThenEveryGoodSignature) {
  KeyAndCert ca = Ca(testing::NewEcKey(), "Root");
  IssuerTables t({.warmup = 3, .max_tables = 4});
  X509Ptr a = Leaf(ca), b = Leaf(ca), c = Leaf(ca), d = Leaf(ca);
  EXPECT_FALSE(Verify(t, a.get(), ca.cert.get()));  // uses 1 and 2: no table yet
  EXPECT_FALSE(Verify(t, b.get(), ca.cert.get()));
  EXPECT_EQ(t.tables(), 0u);
  EXPECT_TRUE(Verify(t, c.get(), ca.cert.get()));  // the third use builds it
  EXPECT_TRUE(Verify(t, d.get(), ca.cert.get()));
  EXPECT_TRUE(Verify(t, a.get(), ca.cert.get()));
  EXPECT_EQ(t.tables(), 1u);
  EXPECT_EQ(t.verified(), 3u);
}

TEST(IssuerTablesTest, BadOrForeignSignaturesAreNeverShownValid) {
  KeyAndCert ca = Ca(testing::NewEcKey(), "Root");
  KeyAndCert impostor = Ca(testing::NewEcKey(), "Root");  // same name, another key
  IssuerTables t({.warmup = 1, .max_tables = 4});
  X509Ptr good = Leaf(ca);
  ASSERT_TRUE(Verify(t, good.get(), ca.cert.get()));
  X509Ptr forged = Leaf(impostor);
  EXPECT_FALSE(Verify(t, forged.get(), ca.cert.get()));
  // Every single-bit change of the signature's last bytes, still well-formed DER.
  std::string der = testing::ToDer(good.get());
  for (int bit = 0; bit < 16; ++bit) {
    std::string bad = der;
    bad[bad.size() - 1 - bit / 8] ^= static_cast<char>(1 << (bit % 8));
    const unsigned char* p = reinterpret_cast<const unsigned char*>(bad.data());
    X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(bad.size())));
    ASSERT_TRUE(cert);
    EXPECT_FALSE(t.Verify(cert.get(), bad, ca.cert.get())) << "bit " << bit;
  }
  // A DER that is not the certificate's (no TBS to hash) is refused, not guessed at.
  EXPECT_FALSE(t.Verify(good.get(), "", ca.cert.get()));
  EXPECT_FALSE(t.Verify(good.get(), der.substr(0, der.size() - 1), ca.cert.get()));
  EXPECT_EQ(t.verified(), 1u);
}

TEST(IssuerTablesTest, LongerDigestsAreTruncatedAsSec1Says) {
  KeyAndCert ca = Ca(testing::NewEcKey(), "Root");
  IssuerTables t({.warmup = 1, .max_tables = 4});
  for (const EVP_MD* md : {EVP_sha256(), EVP_sha384(), EVP_sha512(), EVP_sha224()}) {
    X509Ptr leaf = Leaf(ca, md);
    EXPECT_TRUE(Verify(t, leaf.get(), ca.cert.get())) << EVP_MD_get0_name(md);
  }
}

TEST(IssuerTablesTest, RsaIssuersAreLeftToOpenSsl) {
  KeyAndCert rsa = Ca(testing::NewRsaKey(2048), "RSA Root");
  IssuerTables t({.warmup = 1, .max_tables = 4});
  X509Ptr leaf = Leaf(rsa);
  EXPECT_FALSE(Verify(t, leaf.get(), rsa.cert.get()));
  EXPECT_EQ(t.tables(), 0u);
}

// P-384 and P-521 go through OpenSSL's generic curve code (tables for G and Q built here), after
// their own, shorter warm-up (their checks cost ~18x P-256's, their tables ~1/9).
TEST(IssuerTablesTest, P384AndP521IssuersAfterTheirWarmup) {
  for (const char* curve : {"P-384", "P-521"}) {
    KeyAndCert ca = Ca(EvpPkeyPtr(EVP_EC_gen(curve)), std::string(curve) + " Root");
    IssuerTables t({.warmup = 0, .max_tables = 4});
    std::vector<X509Ptr> leaves;
    for (int i = 0; i < 9; ++i) leaves.push_back(Leaf(ca, i % 2 ? EVP_sha512() : EVP_sha384()));
    for (int i = 0; i < 7; ++i) EXPECT_FALSE(Verify(t, leaves[i].get(), ca.cert.get())) << curve;
    EXPECT_TRUE(Verify(t, leaves[7].get(), ca.cert.get())) << curve;  // the 8th use builds it
    EXPECT_TRUE(Verify(t, leaves[8].get(), ca.cert.get())) << curve;
    EXPECT_TRUE(Verify(t, leaves[0].get(), ca.cert.get())) << curve;
    std::string der = testing::ToDer(leaves[1].get());
    der.back() ^= 0x01;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    X509Ptr bad(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    ASSERT_TRUE(bad);
    EXPECT_FALSE(t.Verify(bad.get(), der, ca.cert.get())) << curve;
    KeyAndCert impostor = Ca(EvpPkeyPtr(EVP_EC_gen(curve)), std::string(curve) + " Root");
    X509Ptr forged = Leaf(impostor);
    EXPECT_FALSE(Verify(t, forged.get(), ca.cert.get())) << curve;
    EXPECT_EQ(t.verified(), 3u) << curve;
  }
}

TEST(IssuerTablesTest, NoMoreTablesThanTheCap) {
  KeyAndCert first = Ca(testing::NewEcKey(), "First");
  KeyAndCert second = Ca(testing::NewEcKey(), "Second");
  IssuerTables t({.warmup = 1, .max_tables = 1});
  X509Ptr a = Leaf(first), b = Leaf(second);
  EXPECT_TRUE(Verify(t, a.get(), first.cert.get()));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(Verify(t, b.get(), second.cert.get()));
  EXPECT_EQ(t.tables(), 1u);
}

}  // namespace
}  // namespace mxcensus::tls
