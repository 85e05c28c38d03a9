#include "worker/tls/session_facts.h"

#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include <string>

#include "proto/convert.h"
#include "proto/mxcensus.pb.h"
#include "tests/unit/probe/cert_util.h"

namespace mxcensus::tls {
namespace {

// A certificate is the peer's to write: its names are bytes that need not be UTF-8 nor free of
// NUL. The summary travels in protobuf strings (a parser refuses one that is not UTF-8: the
// coordinator could not read the batch, and the worker sent it again after every reconnect)
// and goes into text columns (which refuse NUL), so it must be text whatever the peer sent.
TEST(SessionFactsTest, NamesThatAreNotTextAreMadeSafe) {
  EvpPkeyPtr key = testing::NewEcKey();
  X509Ptr cert = testing::MakeCert(key.get(), "", nullptr, false);  // no SAN yet
  // A UTF8String CN that is not UTF-8, set as raw bytes (no conversion, no check).
  const std::string bad_cn("mx\xff\x01.test", 9);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  ASSERT_EQ(X509_NAME_add_entry_by_txt(subject, "O", V_ASN1_UTF8STRING,
                                       reinterpret_cast<const unsigned char*>(bad_cn.data()),
                                       static_cast<int>(bad_cn.size()), -1, 0),
            1);
  // A dNSName with a byte above 0x7F and a NUL.
  const std::string bad_san("mx\xc3\x28\x00.test", 10);
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  GENERAL_NAME* gn = GENERAL_NAME_new();
  ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
  ASN1_STRING_set(ia5, bad_san.data(), static_cast<int>(bad_san.size()));
  GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
  sk_GENERAL_NAME_push(names, gn);
  ASSERT_EQ(X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names, 0, 0), 1);
  GENERAL_NAMES_free(names);

  const CertSummary s = SummarizeCertificate(cert.get());
  ASSERT_EQ(s.sans.size(), 1u);
  EXPECT_EQ(s.sans[0], "mx\xef\xbf\xbd(?.test");
  EXPECT_EQ(s.subject.find('\0'), std::string::npos);
  EXPECT_NE(s.subject.find("\xef\xbf\xbd"), std::string::npos) << s.subject;

  // The whole result crosses the wire and comes back equal.
  ProbeResult r;
  r.ip = "192.0.2.1";
  r.port = 25;
  r.name = "mx.test";
  TlsFacts t;
  t.leaf = s;
  r.tls = t;
  v1::ProbeResult wire;
  ToProto(r, &wire);
  v1::ProbeResult back;
  ASSERT_TRUE(back.ParseFromString(wire.SerializeAsString()));
  const ProbeResult again = FromProto(back);
  ASSERT_TRUE(again.tls && again.tls->leaf);
  EXPECT_EQ(again.tls->leaf->sans, s.sans);
  EXPECT_EQ(again.tls->leaf->subject, s.subject);
}

}  // namespace
}  // namespace mxcensus::tls
