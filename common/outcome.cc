#include "common/outcome.h"

#include <array>

namespace mxcensus {
namespace {

constexpr std::array<std::string_view, kProbeOutcomeCount> kOutcomeNames = {
    "starttls_ok",   "no_starttls",    "starttls_stripped", "starttls_refused", "tls_failed",
    "banner_rejected", "ehlo_rejected", "protocol_error",   "closed",           "timeout",
    "connect_refused", "connect_failed", "blocked",
};

constexpr std::array<std::string_view, kProbeStageCount> kStageNames = {
    "connect", "banner", "ehlo", "helo", "starttls", "tls", "ehlo_tls", "quit",
};

constexpr std::array<std::string_view, kDnsStatusCount> kDnsNames = {
    "ok", "nxdomain", "servfail", "timeout", "no_mx", "null_mx", "no_address", "refused", "invalid",
};

template <typename E, size_t N>
std::optional<E> Lookup(const std::array<std::string_view, N>& names, std::string_view name) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == name) return static_cast<E>(i);
  }
  return std::nullopt;
}

}  // namespace

std::string_view OutcomeName(ProbeOutcome o) { return kOutcomeNames[static_cast<size_t>(o)]; }
std::optional<ProbeOutcome> ParseOutcome(std::string_view name) {
  return Lookup<ProbeOutcome>(kOutcomeNames, name);
}
std::string_view StageName(ProbeStage s) { return kStageNames[static_cast<size_t>(s)]; }
std::optional<ProbeStage> ParseStage(std::string_view name) {
  return Lookup<ProbeStage>(kStageNames, name);
}
std::string_view DnsStatusName(DnsStatus s) { return kDnsNames[static_cast<size_t>(s)]; }
std::optional<DnsStatus> ParseDnsStatus(std::string_view name) {
  return Lookup<DnsStatus>(kDnsNames, name);
}

}  // namespace mxcensus
