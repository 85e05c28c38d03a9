#pragma once

// What `mxcensus maillog` learns from a mail server's logs: per peer domain, the mail exchanged
// with it and whether TLS protected it (docs/maillog-advise.md "Output fields").

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace mxcensus::maillog {

// The observations about one peer domain. Inbound mail is attributed to the envelope sender's
// domain, outbound mail to the recipient's domain.
struct DomainStats {
  int64_t messages_in = 0;      // messages received from the domain over SMTP
  int64_t messages_in_tls = 0;  // ... of which in a TLS session
  int64_t sessions_in = 0;      // inbound SMTP sessions that carried mail from the domain
  int64_t sessions_in_tls = 0;  // ... of which used TLS
  int64_t messages_out = 0;     // distinct messages with at least one delivery attempt to it
  int64_t deliveries_out = 0;   // successful remote deliveries (one per recipient line)
  int64_t deliveries_out_tls = 0;
  int64_t deferred_out = 0;  // delivery attempts deferred (temporary failure)
  int64_t bounced_out = 0;   // recipients bounced (permanent failure)
  // "TLSv1.3 TLS_AES_256_GCM_SHA384" -> count (inbound: sessions, outbound: deliveries).
  std::map<std::string, int64_t> tls_in;
  std::map<std::string, int64_t> tls_out;
  std::set<std::string> mx_names;      // remote MX names delivered to (outbound relays)
  std::set<std::string> mx_addresses;  // their addresses
  std::set<std::string> clients;       // inbound client hosts, "name[addr]"
  std::string last_error;              // the latest error text logged for this domain
  int64_t last_error_at = 0;           // unix seconds, 0 = none
  int64_t first_seen = 0;              // unix seconds of the first and last line used
  int64_t last_seen = 0;
};

// Line accounting of a run. Unparsed and malformed lines are never fatal.
struct LineStats {
  int64_t total = 0;
  int64_t used = 0;          // lines that contributed to an observation or a join
  int64_t ignored = 0;       // well-formed lines of no interest (other programs, other events)
  int64_t before_since = 0;  // lines older than --since
  int64_t unparsed = 0;      // lines without the log format's envelope (timestamp, program)
  int64_t malformed = 0;     // lines of a known event whose fields could not be read
  std::vector<std::string> samples;  // "file:line: reason: text", the first few of the above
};

// One input file as read.
struct FileInfo {
  std::string path;
  std::string format;  // "postfix", "exim", "sendmail", or "unknown"
  int64_t lines = 0;
};

struct Observations {
  std::map<std::string, DomainStats> domains;
  LineStats lines;
  std::vector<FileInfo> files;
};

// The JSON document of `maillog --json` (and what `advise --maillog-json` reads back).
nlohmann::json ObservationsToJson(const Observations& obs);
// Reads the per-domain part back; errors name the field.
bool DomainStatsFromJson(const nlohmann::json& j, DomainStats* out, std::string* error);

// The domain list for `crawl start` / `scan`: every peer domain, one a line, sorted.
std::string DomainList(const Observations& obs);

}  // namespace mxcensus::maillog
