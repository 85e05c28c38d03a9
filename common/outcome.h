#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace mxcensus {

// The closed set of probe outcomes of DESIGN.md. The names returned by OutcomeName() are the
// public spelling in JSON, SQL (enum probe_outcome) and metric labels.
enum class ProbeOutcome : uint8_t {
  kStartTlsOk,
  kNoStartTls,
  kStartTlsStripped,
  kStartTlsRefused,
  kTlsFailed,
  kBannerRejected,
  kEhloRejected,
  kProtocolError,
  kClosed,
  kTimeout,
  kConnectRefused,
  kConnectFailed,
  kBlocked,
};
inline constexpr int kProbeOutcomeCount = 13;

std::string_view OutcomeName(ProbeOutcome o);
std::optional<ProbeOutcome> ParseOutcome(std::string_view name);

// The stage a probe reached (or timed out in). Names are used in JSON, SQL and metrics.
enum class ProbeStage : uint8_t {
  kConnect,
  kBanner,
  kEhlo,
  kHelo,
  kStartTls,
  kTls,
  kEhloTls,
  kQuit,
};
inline constexpr int kProbeStageCount = 8;

std::string_view StageName(ProbeStage s);
std::optional<ProbeStage> ParseStage(std::string_view name);

// DNS states of a domain (DESIGN.md "DNS").
enum class DnsStatus : uint8_t {
  kOk,
  kNxDomain,
  kServFail,
  kTimeout,
  kNoMx,       // neither MX nor address: no mail route
  kNullMx,     // RFC 7505
  kNoAddress,  // MX names exist, none has an address
  kRefused,
  kInvalid,
};
inline constexpr int kDnsStatusCount = 9;

std::string_view DnsStatusName(DnsStatus s);
std::optional<DnsStatus> ParseDnsStatus(std::string_view name);

}  // namespace mxcensus
