#pragma once

// The knowledge base of `mxcensus advise` as data: every finding (what was observed, why it
// matters) and, per MTA software, how to fix it with the exact configuration lines. The tables
// live in knowledge.cc; docs/maillog-advise.md prints them.

#include <span>
#include <string_view>
#include <vector>

namespace mxcensus::advise {

enum class Finding {
  kDnsFailure,         // the domain does not resolve to a mail server
  kMxNoAddress,        // an MX name without address
  kMxUnreachable,      // connection refused / failed / timed out
  kSmtpSessionFailed,  // greeting or EHLO rejected, not SMTP, closed
  kNoStartTls,
  kStartTlsMasked,   // a middlebox replaced STARTTLS in the EHLO reply
  kStartTlsRefused,  // STARTTLS offered, then 454 or similar
  kTlsHandshakeFailed,
  kStartTlsInjection,  // plaintext after the 220 to STARTTLS
  kOldTlsVersion,      // TLS 1.0/1.1 (or SSL) is the best the server offers
  kWeakDh,             // a DHE group under 2048 bits
  kCertExpired,
  kCertNotYetValid,
  kCertSelfSigned,
  kCertIncompleteChain,  // untrusted or incomplete chain
  kCertNameMismatch,
  kNoMtaSts,
  kNoTlsRpt,
};

enum class Severity { kError, kWarning, kAdvice };
std::string_view SeverityName(Severity s);

enum class Software { kPostfix, kExim, kSendmail, kExchange, kOther, kAny };
std::string_view SoftwareName(Software s);
std::string_view SoftwareTitle(Software s);  // "Postfix", "Microsoft Exchange", ...

struct FindingInfo {
  Finding finding;
  std::string_view code;  // public name: JSON "code", docs
  Severity severity;
  std::string_view title;  // one line
  std::string_view why;    // why it matters, plain language
};

// A fix for one finding on one software. `config` holds the exact lines to add or change;
// {mx} and {domain} are replaced by the MX name and the domain.
struct FixInfo {
  Finding finding;
  Software software;  // kAny: independent of the mail server (DNS, a middlebox)
  std::string_view steps;
  std::string_view config;
};

const FindingInfo& Info(Finding f);
std::span<const FindingInfo> AllFindings();
// The fixes to show for a host running `software`: that software's when it has one, else the
// software-independent one; for kOther, every MTA's.
std::vector<const FixInfo*> FixesFor(Finding f, Software software);
std::span<const FixInfo> AllFixes();

}  // namespace mxcensus::advise
