// Fuzz target: the SMTP reply parser. The first byte picks a chunk size; the rest is server
// bytes. Checks that chunked and whole-input parsing agree and that every bound holds.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/smtp/reply_parser.h"

namespace {

using mxcensus::smtp::Reply;
using mxcensus::smtp::ReplyLimits;
using mxcensus::smtp::ReplyParser;

struct Run {
  std::vector<Reply> replies;
  bool error = false;
};

Run Parse(std::string_view input, size_t chunk, const ReplyLimits& limits) {
  ReplyParser p(limits);
  Run run;
  size_t offset = 0;
  while (offset < input.size() && !run.error) {
    std::string_view piece = input.substr(offset, chunk);
    while (!piece.empty()) {
      auto step = p.Feed(piece);
      if (step.consumed > piece.size()) std::abort();
      if (step.state == ReplyParser::State::kError) {
        run.error = true;
        break;
      }
      if (step.state == ReplyParser::State::kReply) {
        Reply r = p.TakeReply();
        if (r.code < 200 || r.code > 559 || r.lines.empty() || r.lines.size() > limits.max_lines) {
          std::abort();
        }
        for (const auto& l : r.lines) {
          if (l.size() > 3 * limits.max_line) std::abort();  // sanitising may grow bytes ≤ 3x
        }
        run.replies.push_back(std::move(r));
      }
      offset += step.consumed;
      piece.remove_prefix(step.consumed);
      if (step.state == ReplyParser::State::kNeedMore) break;
    }
  }
  return run;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t chunk = 1 + data[0] % 17;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  ReplyLimits limits{.max_line = 64, .max_lines = 8, .max_reply_bytes = 400};
  Run whole = Parse(input, input.size() + 1, limits);
  Run chunked = Parse(input, chunk, limits);
  if (whole.error != chunked.error || whole.replies.size() != chunked.replies.size()) std::abort();
  for (size_t i = 0; i < whole.replies.size(); ++i) {
    if (whole.replies[i].code != chunked.replies[i].code ||
        whole.replies[i].lines != chunked.replies[i].lines) {
      std::abort();
    }
  }
  (void)mxcensus::smtp::IsMaskedStartTls(input);
  (void)mxcensus::smtp::SanitizeText(input);
  return 0;
}
