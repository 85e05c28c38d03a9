#include "common/smtp/reply_parser.h"

#include <gtest/gtest.h>

namespace mxcensus::smtp {
namespace {

using State = ReplyParser::State;

// Feeds `input` in chunks of `chunk` bytes and collects the replies.
std::vector<Reply> FeedAll(ReplyParser& p, std::string_view input, size_t chunk,
                           std::string* error = nullptr) {
  std::vector<Reply> out;
  while (!input.empty()) {
    std::string_view piece = input.substr(0, chunk);
    while (!piece.empty()) {
      auto step = p.Feed(piece);
      if (step.state == State::kError) {
        if (error) *error = p.error();
        return out;
      }
      if (step.state == State::kReply) out.push_back(p.TakeReply());
      piece.remove_prefix(step.consumed);
      input.remove_prefix(step.consumed);
      if (step.state == State::kNeedMore) break;
    }
  }
  return out;
}

TEST(SmtpReplyParserTest, SingleLineReply) {
  ReplyParser p;
  auto step = p.Feed("220 mx.example.test ESMTP\r\n");
  ASSERT_EQ(step.state, State::kReply);
  EXPECT_EQ(step.consumed, 27u);
  Reply r = p.TakeReply();
  EXPECT_EQ(r.code, 220);
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0], "mx.example.test ESMTP");
  EXPECT_EQ(r.FirstLineWithCode(), "220 mx.example.test ESMTP");
}

TEST(SmtpReplyParserTest, MultilineEhloCollectsExtensions) {
  ReplyParser p;
  std::string in = "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 STARTTLS\r\n";
  auto replies = FeedAll(p, in, in.size());
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].lines,
            (std::vector<std::string>{"mx.example.test", "PIPELINING", "SIZE 1000", "STARTTLS"}));
}

TEST(SmtpReplyParserTest, SplitAtEveryByteBoundaryGivesTheSameReplies) {
  std::string in = "250-a\r\n250-bb\n250 ccc\r\n221 bye\r\n";
  for (size_t chunk = 1; chunk <= in.size(); ++chunk) {
    ReplyParser p;
    auto replies = FeedAll(p, in, chunk);
    ASSERT_EQ(replies.size(), 2u) << "chunk " << chunk;
    EXPECT_EQ(replies[0].lines, (std::vector<std::string>{"a", "bb", "ccc"}));
    EXPECT_EQ(replies[1].code, 221);
  }
  // Every split point of the input into two pieces, too.
  for (size_t cut = 0; cut <= in.size(); ++cut) {
    ReplyParser p;
    std::vector<Reply> got = FeedAll(p, in.substr(0, cut), in.size());
    auto more = FeedAll(p, in.substr(cut), in.size());
    got.insert(got.end(), more.begin(), more.end());
    ASSERT_EQ(got.size(), 2u) << "cut " << cut;
  }
}

TEST(SmtpReplyParserTest, BareLfAndCrLfAreBothLineEnds) {
  ReplyParser a, b;
  auto ra = FeedAll(a, "250-x\n250 y\n", 100);
  auto rb = FeedAll(b, "250-x\r\n250 y\r\n", 100);
  ASSERT_EQ(ra.size(), 1u);
  ASSERT_EQ(rb.size(), 1u);
  EXPECT_EQ(ra[0].lines, rb[0].lines);
}

TEST(SmtpReplyParserTest, StopsRightAfterTheReplySoTrailingBytesAreVisible) {
  ReplyParser p;
  std::string in = "220 go ahead\r\n250 injected\r\n";
  auto step = p.Feed(in);
  ASSERT_EQ(step.state, State::kReply);
  EXPECT_EQ(in.substr(step.consumed), "250 injected\r\n");
}

TEST(SmtpReplyParserTest, CodeOnlyLineEndsReply) {
  ReplyParser p;
  auto step = p.Feed("250\r\n");
  ASSERT_EQ(step.state, State::kReply);
  Reply r = p.TakeReply();
  EXPECT_EQ(r.code, 250);
  EXPECT_EQ(r.lines, std::vector<std::string>{""});
}

TEST(SmtpReplyParserTest, LineOverTheBoundIsAnError) {
  ReplyParser p(ReplyLimits{.max_line = 16});
  std::string ok = "250 " + std::string(12, 'a') + "\r\n";  // exactly 16 bytes of line
  ASSERT_EQ(p.Feed(ok).state, State::kReply);
  p.TakeReply();
  std::string too_long = "250 " + std::string(13, 'a') + "\r\n";
  EXPECT_EQ(p.Feed(too_long).state, State::kError);
  EXPECT_NE(p.error().find("longer than 16"), std::string::npos);
}

TEST(SmtpReplyParserTest, LineOverTheBoundWithoutNewlineIsAnErrorEarly) {
  ReplyParser p(ReplyLimits{.max_line = 16});
  std::string endless(1000, 'a');
  std::string err;
  FeedAll(p, "250 " + endless, 7, &err);
  EXPECT_NE(err.find("longer than"), std::string::npos);
}

TEST(SmtpReplyParserTest, TooManyLinesIsAnError) {
  ReplyParser p(ReplyLimits{.max_lines = 3});
  std::string err;
  auto r = FeedAll(p, "250-a\r\n250-b\r\n250-c\r\n250-d\r\n250 e\r\n", 100, &err);
  EXPECT_TRUE(r.empty());
  EXPECT_NE(err.find("more than 3 lines"), std::string::npos);
}

TEST(SmtpReplyParserTest, ReplyBytesBound) {
  ReplyParser p(ReplyLimits{.max_line = 100, .max_lines = 1000, .max_reply_bytes = 50});
  std::string in;
  for (int i = 0; i < 10; ++i) in += "250-0123456789\r\n";
  std::string err;
  FeedAll(p, in, 3, &err);
  EXPECT_NE(err.find("longer than 50 bytes"), std::string::npos);
}

TEST(SmtpReplyParserTest, NonSmtpInputIsAnError) {
  for (std::string in : {"HTTP/1.1 400 Bad Request\r\n", "SSH-2.0-OpenSSH\r\n", "\r\n",
                         "2x0 hi\r\n", "250Xhello\r\n", "650 no\r\n", "199 no\r\n"}) {
    ReplyParser p;
    EXPECT_EQ(p.Feed(in).state, State::kError) << in;
    EXPECT_FALSE(p.error().empty());
    // Stays in error.
    EXPECT_EQ(p.Feed("250 ok\r\n").state, State::kError);
  }
}

TEST(SmtpReplyParserTest, ChangedCodeInsideMultilineIsAnError) {
  ReplyParser p;
  std::string err;
  FeedAll(p, "250-a\r\n251 b\r\n", 100, &err);
  EXPECT_NE(err.find("changed"), std::string::npos);
}

TEST(SmtpReplyParserTest, PartialReplyIsReported) {
  ReplyParser p;
  EXPECT_EQ(p.Feed("250-a\r\n25").state, State::kNeedMore);
  EXPECT_TRUE(p.HasPartial());
  p.Reset();
  EXPECT_FALSE(p.HasPartial());
}

TEST(SmtpReplyParserTest, SanitizeKeepsUtf8AndReplacesTheRest) {
  EXPECT_EQ(SanitizeText("plain"), "plain");
  EXPECT_EQ(SanitizeText("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(SanitizeText(std::string("a\0b", 3)), "a?b");
  EXPECT_EQ(SanitizeText("x\xFFy"), "x\xEF\xBF\xBDy");
  EXPECT_EQ(SanitizeText("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  EXPECT_EQ(SanitizeText("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(SanitizeText("tab\there"), "tab\there");
}

TEST(SmtpReplyParserTest, NonUtf8ReplyTextIsSanitised) {
  ReplyParser p;
  ASSERT_EQ(p.Feed("220 \xFF\x01hi\r\n").state, State::kReply);
  EXPECT_EQ(p.TakeReply().lines[0], "\xEF\xBF\xBD?hi");
}

TEST(SmtpEhloKeywordTest, StartTlsAndMaskedForms) {
  EXPECT_TRUE(IsStartTlsKeyword("STARTTLS"));
  EXPECT_TRUE(IsStartTlsKeyword("starttls"));
  EXPECT_TRUE(IsStartTlsKeyword("STARTTLS extra"));
  EXPECT_FALSE(IsStartTlsKeyword("STARTTLSX"));
  EXPECT_FALSE(IsStartTlsKeyword("XXXXXXXA"));
  EXPECT_TRUE(IsMaskedStartTls("XXXXXXXA"));
  EXPECT_TRUE(IsMaskedStartTls("XXXXXXXX"));
  EXPECT_TRUE(IsMaskedStartTls("xxxxxxxa"));
  EXPECT_FALSE(IsMaskedStartTls("XXXXXXX"));
  EXPECT_FALSE(IsMaskedStartTls("XXXXXXXXX"));
  EXPECT_FALSE(IsMaskedStartTls("XXXXXXAA"));
  EXPECT_FALSE(IsMaskedStartTls("XXXXXXX1"));
  EXPECT_FALSE(IsMaskedStartTls("STARTTLS"));
  EXPECT_EQ(EhloKeyword("SIZE 1000"), "SIZE");
  EXPECT_EQ(EhloKeyword("AUTH=LOGIN"), "AUTH");
}

}  // namespace
}  // namespace mxcensus::smtp
