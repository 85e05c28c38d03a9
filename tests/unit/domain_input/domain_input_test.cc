#include "common/domain_input.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace mxcensus {
namespace {

std::string Norm(std::string_view raw) {
  auto r = NormaliseDomain(raw);
  return r.ok() ? *r : "ERR: " + std::string(r.status().message());
}

TEST(NormaliseDomainTest, LowercasesAndStripsTrailingDot) {
  EXPECT_EQ(Norm("Example.COM"), "example.com");
  EXPECT_EQ(Norm("example.com."), "example.com");
  EXPECT_EQ(Norm("  mail.Example.org.  "), "mail.example.org");
}

TEST(NormaliseDomainTest, ConvertsUnicodeToALabels) {
  EXPECT_EQ(Norm("bücher.de"), "xn--bcher-kva.de");
  EXPECT_EQ(Norm("BÜCHER.de"), "xn--bcher-kva.de");  // UTS#46 case mapping
  EXPECT_EQ(Norm("例え.テスト"), "xn--r8jz45g.xn--zckzah");
  EXPECT_EQ(Norm("例え。テスト。"), "xn--r8jz45g.xn--zckzah");  // ideographic full stops
  // Non-transitional processing: ß stays ß (IDNA2008), it is not mapped to "ss".
  EXPECT_EQ(Norm("faß.de"), "xn--fa-hia.de");
}

TEST(NormaliseDomainTest, AcceptsValidALabels) {
  EXPECT_EQ(Norm("XN--BCHER-KVA.de"), "xn--bcher-kva.de");
}

TEST(NormaliseDomainTest, RejectsInvalidNames) {
  EXPECT_EQ(Norm(""), "ERR: empty name");
  EXPECT_EQ(Norm("."), "ERR: empty name");
  EXPECT_EQ(Norm("a..b"), "ERR: empty label");
  EXPECT_EQ(Norm("localhost"), "ERR: single-label name");
  EXPECT_EQ(Norm("exa mple.com"), "ERR: invalid character in name");
  EXPECT_EQ(Norm("under_score.com"), "ERR: invalid character '_' in name");
  EXPECT_EQ(Norm("-lead.com"), "ERR: label starts or ends with a hyphen");
  EXPECT_EQ(Norm("trail-.com"), "ERR: label starts or ends with a hyphen");
  EXPECT_EQ(Norm(std::string(64, 'a') + ".com"), "ERR: label longer than 63 octets");
  EXPECT_EQ(Norm("192.0.2.1"), "ERR: numeric top-level label (an IP address?)");
  EXPECT_EQ(Norm("xn--zz-invalid-.com"), "ERR: label starts or ends with a hyphen");
  EXPECT_EQ(Norm("xn--a.com"), "ERR: invalid A-label 'xn--a'");
  EXPECT_EQ(Norm("ab--cd.com"), "ERR: reserved label form (hyphens in positions 3 and 4)");
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += std::string(60, 'a') + ".";
  long_name += "com";
  EXPECT_EQ(Norm(long_name), "ERR: name longer than 253 octets");
  EXPECT_TRUE(Norm("a\xff.com").starts_with("ERR: not a valid internationalised name"));
}

struct Collected {
  std::vector<std::pair<std::string, int64_t>> domains;
  std::vector<DomainInputError> errors;
  DomainListStats stats;
};

Collected Read(const std::string& text) {
  Collected c;
  std::istringstream in(text);
  auto st = ReadDomainList(
      in, "list.txt", [&](const std::string& d, int64_t rank) { c.domains.emplace_back(d, rank); },
      [&](const DomainInputError& e) { c.errors.push_back(e); }, &c.stats);
  EXPECT_TRUE(st.ok()) << st;
  return c;
}

TEST(ReadDomainListTest, PlainListWithCommentsBlanksAndDuplicates) {
  auto c = Read(
      "\xEF\xBB\xBF# a list\r\n"
      "Example.com\r\n"
      "\n"
      "   \n"
      "example.com.   # same domain again\n"
      "bücher.de\n"
      "mail.example.org");  // no final newline
  ASSERT_EQ(c.domains.size(), 3u);
  EXPECT_EQ(c.domains[0], (std::pair<std::string, int64_t>{"example.com", 0}));
  EXPECT_EQ(c.domains[1].first, "xn--bcher-kva.de");
  EXPECT_EQ(c.domains[2].first, "mail.example.org");
  EXPECT_TRUE(c.errors.empty());
  EXPECT_EQ(c.stats.lines, 7);
  EXPECT_EQ(c.stats.duplicates, 1);
  EXPECT_EQ(c.stats.skipped, 3);
  EXPECT_EQ(c.stats.domains, 3);
}

TEST(ReadDomainListTest, TrancoCsvWithHeader) {
  auto c = Read("rank,domain\n1,google.com\n2, Facebook.COM \n3,google.com\n");
  ASSERT_EQ(c.domains.size(), 2u);
  EXPECT_EQ(c.domains[0], (std::pair<std::string, int64_t>{"google.com", 1}));
  EXPECT_EQ(c.domains[1], (std::pair<std::string, int64_t>{"facebook.com", 2}));
  EXPECT_TRUE(c.errors.empty());
  EXPECT_EQ(c.stats.skipped, 1);
  EXPECT_EQ(c.stats.duplicates, 1);
}

TEST(ReadDomainListTest, InvalidLinesAreReportedWithNumbersAndSkipped) {
  auto c = Read(
      "good.com\n"
      "bad_name.com\n"
      "x,other.com\n"
      "1,a.com,extra\n"
      "also-good.net\n"
      "rank,domain\n"  // a header is only a header on the first content line
      "-5,neg.com\n" +
      std::string(5000, 'a') + "\n" + "last.org\n");
  ASSERT_EQ(c.domains.size(), 3u);
  EXPECT_EQ(c.domains[0].first, "good.com");
  EXPECT_EQ(c.domains[1].first, "also-good.net");
  EXPECT_EQ(c.domains[2].first, "last.org");
  ASSERT_EQ(c.errors.size(), 6u);
  EXPECT_EQ(c.errors[0].line, 2);
  EXPECT_EQ(c.errors[0].file, "list.txt");
  EXPECT_EQ(c.errors[0].text, "bad_name.com");
  EXPECT_EQ(c.errors[0].reason, "invalid character '_' in name");
  EXPECT_EQ(c.errors[1].line, 3);
  EXPECT_EQ(c.errors[1].reason, "bad rank 'x' (expected a positive integer)");
  EXPECT_EQ(c.errors[2].line, 4);
  EXPECT_EQ(c.errors[3].line, 6);
  EXPECT_EQ(c.errors[4].line, 7);
  EXPECT_EQ(c.errors[5].line, 8);
  EXPECT_EQ(c.errors[5].reason, "line longer than 4096 bytes");
  EXPECT_EQ(c.errors[5].text.size(), 200u);
  EXPECT_EQ(c.stats.errors, 6);
  EXPECT_EQ(c.stats.lines, 9);
}

TEST(ReadDomainListTest, PullReaderReportsLineOfEachDomain) {
  std::istringstream in("# c\na.com\n\nb.com\n");
  DomainListReader reader(in, "-", nullptr);
  auto a = reader.Next();
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->line, 2);
  auto b = reader.Next();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->domain, "b.com");
  EXPECT_EQ(b->line, 4);
  EXPECT_FALSE(reader.Next().has_value());
  EXPECT_TRUE(reader.status().ok());
}

}  // namespace
}  // namespace mxcensus
