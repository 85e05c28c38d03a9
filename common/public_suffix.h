#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mxcensus {

// Registrable domains ("eTLD+1") by the Public Suffix List: Debian's libpsl with the newest
// list on the system (the `publicsuffix` package, else libpsl's built-in copy), plus optional
// extra suffix rules (e.g. the lab's `lab.test`, which the real list does not know: without it
// every lab name would collapse to `lab.test`).
class PublicSuffixList {
 public:
  // The system list alone.
  static absl::StatusOr<std::shared_ptr<const PublicSuffixList>> System();
  // The system list plus the plain suffix rules of `text` (PSL format: one suffix a line, `//`
  // comments; wildcard and exception rules are not supported here). `origin` names the source
  // in errors ("FILE:LINE").
  static absl::StatusOr<std::shared_ptr<const PublicSuffixList>> WithExtraRules(
      std::string_view text, std::string_view origin);

  ~PublicSuffixList();
  PublicSuffixList(const PublicSuffixList&) = delete;
  PublicSuffixList& operator=(const PublicSuffixList&) = delete;

  // The registrable domain of a host name (lower-cased, trailing dot removed); the name itself
  // when it is a public suffix or has no registrable part (so a provider is never empty).
  std::string RegistrableDomain(std::string_view host) const;

 private:
  struct Ctx;
  explicit PublicSuffixList(std::unique_ptr<Ctx> ctx, std::vector<std::string> extra);
  std::unique_ptr<Ctx> ctx_;
  std::vector<std::string> extra_;  // lower-case suffixes without dots at either end
};

// The process-wide list that storage uses when it records MX names: the system list unless
// UseExtraPublicSuffixRules() was called (at startup, from a command-line flag).
std::shared_ptr<const PublicSuffixList> ProcessPublicSuffixList();
// Reads extra rules from `path` (the error names `flag` and the path) and makes the system
// list plus these rules the process-wide list.
absl::Status UseExtraPublicSuffixRules(std::string_view flag, const std::string& path);

}  // namespace mxcensus
