#pragma once

// advise output: a plain-text or Markdown report, JSON, and one RFC 5322 message per domain
// for its postmaster (written, never sent).

#include <cstdint>
#include <string>
#include <vector>

#include "advise/diagnose.h"
#include "nlohmann/json.hpp"

namespace mxcensus::advise {

enum class OutputFormat { kText, kMarkdown, kJson };

// Every domain given; those without findings are listed as passing in JSON only.
std::string RenderAdvice(const std::vector<DomainAdvice>& advice, int64_t crawl_id,
                         OutputFormat format);
nlohmann::ordered_json AdviceToJson(const std::vector<DomainAdvice>& advice, int64_t crawl_id);

struct DraftOptions {
  std::string from;  // the From: address
  int64_t date = 0;  // unix seconds for the Date: header
};
// The message to postmaster@domain: headers, a blank line, a plain-text body, CRLF line ends.
std::string NotificationDraft(const DomainAdvice& advice, const DraftOptions& opts);

}  // namespace mxcensus::advise
