#include "worker/dns/dns_message.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proto/mxcensus.pb.h"
#include "tests/unit/dns/message_builder.h"

namespace mxcensus::dns {
namespace {

using testing_util::MessageBuilder;

TEST(DnsMessageTest, ParsesHeaderFlagsAndQuestion) {
  MessageBuilder b("Example.COM", kTypeMx);
  b.SetRcode(3).SetAd(true);
  auto pm = ParseMessage(b.Bytes());
  ASSERT_TRUE(pm.ok()) << pm.status();
  EXPECT_EQ(pm->header.rcode, 3);
  EXPECT_TRUE(pm->header.authenticated_data);
  EXPECT_EQ(pm->question, "example.com");
  EXPECT_TRUE(pm->answers.empty());
}

TEST(DnsMessageTest, MxSortedByPreferenceThenNameWithTiesKept) {
  MessageBuilder b("d.test", kTypeMx);
  b.Mx("d.test", 20, "b.mx.test").Mx("d.test", 10, "Z.mx.test").Mx("d.test", 10, "a.mx.test");
  b.Mx("d.test", 10, "a.mx.test");  // exact duplicate
  auto mx = ExtractMx(b.Bytes(), "d.test");
  ASSERT_TRUE(mx.ok()) << mx.status();
  ASSERT_EQ(mx->size(), 3u);
  EXPECT_EQ((*mx)[0], (MxRecord{10, "a.mx.test"}));
  EXPECT_EQ((*mx)[1], (MxRecord{10, "z.mx.test"}));
  EXPECT_EQ((*mx)[2], (MxRecord{20, "b.mx.test"}));
}

TEST(DnsMessageTest, NullMxIsTheRootName) {
  MessageBuilder b("d.test", kTypeMx);
  b.Mx("d.test", 0, "");
  auto mx = ExtractMx(b.Bytes(), "d.test");
  ASSERT_TRUE(mx.ok());
  ASSERT_EQ(mx->size(), 1u);
  EXPECT_EQ((*mx)[0].exchange, "");
}

TEST(DnsMessageTest, CompressedNamesAreExpanded) {
  MessageBuilder b("d.test", kTypeMx);
  b.MxCompressed("d.test", 5);  // exchange = "mail." + pointer to the question name
  auto mx = ExtractMx(b.Bytes(), "d.test");
  ASSERT_TRUE(mx.ok()) << mx.status();
  ASSERT_EQ(mx->size(), 1u);
  EXPECT_EQ((*mx)[0].exchange, "mail.d.test");
}

TEST(DnsMessageTest, AddressesFollowTheCnameChainAndAreSortedAsStrings) {
  MessageBuilder b("alias.test", kTypeA);
  b.Cname("alias.test", "mid.test").Cname("mid.test", "real.test");
  b.A("real.test", {127, 0, 0, 9}).A("real.test", {127, 0, 0, 10}).A("other.test", {1, 2, 3, 4});
  auto a = ExtractAddresses(b.Bytes(), "alias.test", kTypeA);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->addresses, (std::vector<std::string>{"127.0.0.10", "127.0.0.9"}));
  EXPECT_EQ(a->cname, "real.test");
}

TEST(DnsMessageTest, CnameLoopStopsTheChain) {
  MessageBuilder b("a.test", kTypeA);
  b.Cname("a.test", "b.test").Cname("b.test", "a.test");
  auto a = ExtractAddresses(b.Bytes(), "a.test", kTypeA);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->addresses.empty());
}

TEST(DnsMessageTest, Ipv6TextForm) {
  MessageBuilder b("h.test", kTypeAaaa);
  b.Aaaa("h.test", {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  auto a = ExtractAddresses(b.Bytes(), "h.test", kTypeAaaa);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->addresses, (std::vector<std::string>{"2001:db8::1"}));
  EXPECT_FALSE(a->cname.has_value());
}

TEST(DnsMessageTest, TxtStringsJoinedWithoutSeparatorPerRecord) {
  MessageBuilder b("d.test", kTypeTxt);
  b.Txt("d.test", {"v=spf1 ip4:192.0.2.0/24 ", "-all"}).Txt("d.test", {"other"}).Txt("d.test", {});
  auto t = ExtractTxt(b.Bytes(), "d.test");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, (std::vector<std::string>{"v=spf1 ip4:192.0.2.0/24 -all", "other", ""}));
}

// A zone can publish any bytes in a TXT record. What leaves the parser must be valid UTF-8
// without control bytes: it travels in protobuf strings (which a parser refuses unless they are
// UTF-8, which broke the worker's stream) and goes into text columns (which refuse NUL).
TEST(DnsMessageTest, TxtBytesThatAreNotTextAreMadeSafe) {
  MessageBuilder b("d.test", kTypeTxt);
  b.Txt("d.test", {std::string("v=spf1 a:\xff\xfe.test ", 17), std::string("\0-all\x01", 6)})
      .Txt("d.test", {"v=DMARC1; p=reject; ruf=mailto:d\xc3\xa9@d.test"});
  auto t = ExtractTxt(b.Bytes(), "d.test");
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0], "v=spf1 a:\xef\xbf\xbd\xef\xbf\xbd.test ?-all?");
  // Valid UTF-8 stays as it is.
  EXPECT_EQ((*t)[1], "v=DMARC1; p=reject; ruf=mailto:d\xc3\xa9@d.test");
  v1::PolicyRecords p;
  p.set_spf((*t)[0]);
  v1::PolicyRecords back;
  EXPECT_TRUE(back.ParseFromString(p.SerializeAsString()));
  EXPECT_EQ(back.spf(), (*t)[0]);
}

TEST(DnsMessageTest, TlsaParsedAndCanonicallyOrdered) {
  MessageBuilder b("_25._tcp.mx.test", kTypeTlsa);
  b.Tlsa("_25._tcp.mx.test", 3, 1, 1, {0xAB, 0x01}).Tlsa("_25._tcp.mx.test", 2, 0, 1, {0xff});
  auto t = ExtractTlsa(b.Bytes(), "_25._tcp.mx.test");
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].usage, 2);
  EXPECT_EQ((*t)[0].data_hex, "ff");
  EXPECT_EQ((*t)[1].usage, 3);
  EXPECT_EQ((*t)[1].selector, 1);
  EXPECT_EQ((*t)[1].matching_type, 1);
  EXPECT_EQ((*t)[1].data_hex, "ab01");
}

TEST(DnsMessageTest, MalformedMessagesAreErrorsNotCrashes) {
  MessageBuilder b("d.test", kTypeMx);
  b.Mx("d.test", 10, "mx.d.test");
  std::vector<uint8_t> full = b.Bytes();
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<long>(n));
    EXPECT_FALSE(ExtractMx(cut, "d.test").ok()) << "length " << n;
  }
  // A compression pointer to itself.
  std::vector<uint8_t> loop = {0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1};
  EXPECT_FALSE(ParseMessage(loop).ok());
}

TEST(DnsMessageTest, HostileLabelBytesAreEscaped) {
  MessageBuilder b("d.test", kTypeMx);
  b.Mx("d.test", 10, std::string("a.b\x01") + "c.test");  // label "b\x01c"
  auto mx = ExtractMx(b.Bytes(), "d.test");
  ASSERT_TRUE(mx.ok());
  EXPECT_EQ((*mx)[0].exchange, "a.b\\001c.test");
}

}  // namespace
}  // namespace mxcensus::dns
