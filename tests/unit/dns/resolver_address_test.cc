#include <gtest/gtest.h>

#include "worker/dns/resolver.h"

namespace mxcensus::dns {
namespace {

std::string Parse(std::string_view text) {
  auto r = ParseResolverAddress(text);
  return r.ok() ? *r : "ERR: " + std::string(r.status().message());
}

TEST(ResolverAddressTest, CanonicalForms) {
  EXPECT_EQ(Parse("127.0.0.1:5353"), "127.0.0.1:5353");
  EXPECT_EQ(Parse("127.0.0.1"), "127.0.0.1:53");
  EXPECT_EQ(Parse("[::1]:5353"), "[::1]:5353");
  EXPECT_EQ(Parse("[::1]"), "[::1]:53");
}

TEST(ResolverAddressTest, BadValuesAreNamed) {
  EXPECT_EQ(Parse("::1:53"),
            "ERR: bad resolver address '::1:53': write an IPv6 address as [ADDR]:PORT");
  EXPECT_EQ(Parse("host:53"), "ERR: bad resolver address 'host:53': not an IPv4 address");
  EXPECT_EQ(Parse("127.0.0.1:0"), "ERR: bad resolver address '127.0.0.1:0': port must be 1-65535");
  EXPECT_EQ(Parse("127.0.0.1:x"), "ERR: bad resolver address '127.0.0.1:x': port must be 1-65535");
  EXPECT_EQ(Parse("127.0.0.1:"), "ERR: bad resolver address '127.0.0.1:': empty port");
  EXPECT_EQ(Parse("[::1"), "ERR: bad resolver address '[::1': missing ']'");
}

}  // namespace
}  // namespace mxcensus::dns
