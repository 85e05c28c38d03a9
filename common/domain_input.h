#pragma once

// Domain-list input: normalisation of one name and reading of whole lists (one domain a line,
// or Tranco-style `rank,domain` CSV). Used by `mxcensus resolve`, `scan` and `crawl start`.

#include <cstdint>
#include <functional>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mxcensus {

// Normalises one domain name for DNS: surrounding whitespace trimmed, one trailing dot removed,
// lower-cased, Unicode labels converted to A-labels (IDNA2008 + UTS#46 non-transitional, via
// libidn2), then checked: LDH labels of 1..63 octets, no leading/trailing hyphen, at most 253
// octets, at least two labels, not an IPv4 address, and every `xn--` label a valid A-label.
// Returns InvalidArgument with a short reason ("empty label", "label longer than 63 octets", ...).
absl::StatusOr<std::string> NormaliseDomain(std::string_view raw);

// One rejected input line.
struct DomainInputError {
  std::string file;    // as given to the reader ("-" for standard input)
  int line = 0;        // 1-based
  std::string text;    // the raw line (truncated to 200 bytes)
  std::string reason;  // why it was rejected
};

// Counters of one read.
struct DomainListStats {
  int64_t lines = 0;       // physical lines read
  int64_t domains = 0;     // new normalised domains delivered
  int64_t duplicates = 0;  // lines whose domain was already delivered
  int64_t skipped = 0;     // blank lines, comments and a CSV header
  int64_t errors = 0;      // lines reported through on_error
};

// One accepted domain. `rank` is the CSV rank, or 0 when the line carried none.
struct DomainEntry {
  std::string domain;
  int64_t rank = 0;
  int line = 0;
};

// Reads a domain list line by line, one accepted domain per Next() call. Accepted line forms:
//   example.com            one domain a line
//   42,example.com         Tranco `rank,domain` (a `rank,domain` header line is skipped)
// `#` starts a comment (whole line or trailing); blank lines, a UTF-8 BOM and CR are ignored.
// A bad line is reported through `on_error` and skipped: reading never stops at one. Domains
// already delivered are collapsed (counted in stats().duplicates). Lines are bounded to 4 KiB.
// `in` must outlive the reader.
class DomainListReader {
 public:
  using ErrorFn = std::function<void(const DomainInputError&)>;
  DomainListReader(std::istream& in, std::string file_name, ErrorFn on_error);

  // The next new domain, or nullopt at end of input (or on a read error: see status()).
  std::optional<DomainEntry> Next();
  // Non-OK when the stream failed with an I/O error (not at a bad line).
  absl::Status status() const { return status_; }
  const DomainListStats& stats() const { return stats_; }

 private:
  enum class LineRead { kLine, kTooLong, kEnd };
  LineRead ReadLine(std::string* line);
  void Report(std::string_view text, std::string reason);

  std::istream& in_;
  std::string file_name_;
  ErrorFn on_error_;
  int line_no_ = 0;
  bool seen_content_ = false;  // a non-blank, non-comment line was seen (header detection)
  std::unordered_set<std::string> seen_;
  DomainListStats stats_;
  absl::Status status_;
};

// Reads a whole list, calling `on_domain(domain, rank)` for each new normalised domain and
// `on_error` for each bad line; never stops at a bad line. Returns non-OK only on an I/O error.
// When `stats` is given it receives the counters.
absl::Status ReadDomainList(std::istream& in, const std::string& file_name,
                            const std::function<void(const std::string&, int64_t)>& on_domain,
                            const DomainListReader::ErrorFn& on_error,
                            DomainListStats* stats = nullptr);

}  // namespace mxcensus
