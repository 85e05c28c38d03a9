#include "x509/mtls.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <map>

#include "x509/x509.h"

namespace mxcensus::x509 {
namespace {

X509Ptr ParseCert(const std::string& pem) {
  BioPtr b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
}

EvpPkeyPtr ParseKey(const std::string& pem) {
  BioPtr b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return EvpPkeyPtr(PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr));
}

// X509_V_OK when `cert` chains to `ca` for `purpose` (X509_PURPOSE_SSL_SERVER/CLIENT).
int Verify(X509* ca, X509* cert, int purpose) {
  X509StorePtr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca);
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr);
  X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  X509_verify_cert(ctx.get());
  return X509_STORE_CTX_get_error(ctx.get());
}

class MtlsSet : public ::testing::Test {
 protected:
  void SetUp() override {
    MtlsOptions o;
    o.workers = 3;
    o.coordinator_names = {"coordinator.mxcensus.svc", "10.1.2.3", "localhost"};
    o.now = static_cast<int64_t>(std::time(nullptr));
    auto files = MakeMtlsSet(o);
    ASSERT_TRUE(files.ok()) << files.status();
    for (auto& f : *files) by_name_[f.name] = f;
    ca_ = ParseCert(by_name_["ca.pem"].pem);
    ASSERT_TRUE(ca_);
  }
  std::map<std::string, PemFile> by_name_;
  X509Ptr ca_;
};

TEST_F(MtlsSet, HasEveryFileWithPrivateKeys0600) {
  for (const char* stem : {"ca", "coordinator", "admin", "worker-1", "worker-2", "worker-3"}) {
    const std::string s = stem;
    ASSERT_TRUE(by_name_.count(s + ".pem")) << s;
    ASSERT_TRUE(by_name_.count(s + ".key")) << s;
    EXPECT_EQ(by_name_[s + ".key"].mode, 0600u) << s;
    EXPECT_EQ(by_name_[s + ".pem"].mode, 0644u) << s;
    auto cert = ParseCert(by_name_[s + ".pem"].pem);
    auto key = ParseKey(by_name_[s + ".key"].pem);
    ASSERT_TRUE(cert && key) << s;
    EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1) << s << ": key does not match";
  }
  EXPECT_EQ(by_name_.count("worker-4.pem"), 0u);
  EXPECT_EQ(by_name_.size(), 12u);
}

TEST_F(MtlsSet, CoordinatorIsAServerForEveryNameAndLoopback) {
  auto c = ParseCert(by_name_["coordinator.pem"].pem);
  EXPECT_EQ(Verify(ca_.get(), c.get(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_NE(Verify(ca_.get(), c.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  for (const char* host : {"coordinator.mxcensus.svc", "localhost"}) {
    EXPECT_EQ(X509_check_host(c.get(), host, 0, 0, nullptr), 1) << host;
  }
  EXPECT_NE(X509_check_host(c.get(), "other.example", 0, 0, nullptr), 1);
  for (const char* ip : {"10.1.2.3", "127.0.0.1", "::1"}) {
    EXPECT_EQ(X509_check_ip_asc(c.get(), ip, 0), 1) << ip;
  }
}

TEST_F(MtlsSet, WorkersAndAdminAreClientsOnly) {
  for (const char* stem : {"admin", "worker-1", "worker-3"}) {
    auto c = ParseCert(by_name_[std::string(stem) + ".pem"].pem);
    EXPECT_EQ(Verify(ca_.get(), c.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK) << stem;
    EXPECT_NE(Verify(ca_.get(), c.get(), X509_PURPOSE_SSL_SERVER), X509_V_OK) << stem;
  }
}

TEST_F(MtlsSet, AnotherSetsCaDoesNotVerifyThisSet) {
  MtlsOptions o;
  o.now = static_cast<int64_t>(std::time(nullptr));
  auto other = MakeMtlsSet(o);
  ASSERT_TRUE(other.ok());
  auto other_ca = ParseCert((*other)[0].pem);
  auto w = ParseCert(by_name_["worker-1.pem"].pem);
  EXPECT_NE(Verify(other_ca.get(), w.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
}

TEST(Mtls, RejectsBadOptions) {
  MtlsOptions o;
  o.workers = -1;
  EXPECT_FALSE(MakeMtlsSet(o).ok());
  o.workers = 1;
  o.coordinator_names = {"a b"};
  auto bad = MakeMtlsSet(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--coordinator-name 'a b'"), std::string::npos);
  o.coordinator_names = {};
  o.days = 0;
  EXPECT_FALSE(MakeMtlsSet(o).ok());
}

}  // namespace
}  // namespace mxcensus::x509
