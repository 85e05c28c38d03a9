#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/outcome.h"

namespace mxcensus::lab {

// The host behaviours of the lab (docs/lab.md "Host profiles"). The order is the order of the
// catalogue; the names are public (truth.jsonl "profile", --mix files).
enum class Profile : uint8_t {
  kModernTls13,
  kTls12RsaChain,
  kTls10Legacy,
  kDhe1024,
  kDhe512,
  kSelfSigned,
  kExpired,
  kWrongName,
  kMissingIntermediate,
  kNoStartTls,
  kStartTlsMasked,
  kStartTls454,
  kTlsGarbage,
  kTlsAlert,
  kBanner421,
  kBanner554,
  kEhlo502HeloOk,
  kEhloHeloRejected,
  kMultiline,
  kSlowBanner,
  kTarpit,
  kCloseAfterBanner,
  kHttp,
  kEhlo1MiB,
  kStartTlsInjection,
  kConnectRefused,
  kTlsStall,
};
inline constexpr int kProfileCount = 27;

// Which server TLS configuration a profile uses (one SSL_CTX per kind in each serving process).
enum class TlsKind : uint8_t {
  kNone,         // no handshake is ever served (or fixed bytes instead of TLS)
  kEcdsa13,      // TLS 1.2-1.3, ECDSA P-256 leaf, X25519 only
  kRsaChain12,   // TLS 1.2 only, RSA leaf + RSA intermediate, ECDHE-RSA, X25519
  kTls10,        // TLS 1.0 only, ECDSA leaf, legacy CBC suites, @SECLEVEL=0
  kDhe1024,      // TLS 1.2, DHE-RSA only, 1024-bit group, @SECLEVEL=0
  kDhe512,       // same with a 512-bit group
  kEcdsaNoChain  // as kEcdsa13 but the leaf is issued by the ECDSA intermediate, not sent
};

// Which certificate a host presents.
enum class CertKind : uint8_t {
  kNone,
  kEcdsaRoot,          // ECDSA leaf for the host's names, issued by the ECDSA root
  kRsaIntermediate,    // RSA leaf issued by the RSA intermediate (chain: leaf + intermediate)
  kEcdsaIntermediate,  // ECDSA leaf issued by the ECDSA intermediate (served without it)
  kSelfSigned,         // ECDSA, self-signed, for the host's name
  kExpired,            // ECDSA leaf from the root, validity now-400d .. now-35d
  kOtherName,          // ECDSA leaf from the root for another existing name of the world
};

// What a TLS handshake with this profile is guaranteed to give (the truth "tls" object).
struct TlsExpectation {
  bool attempted = false;  // a handshake is attempted (truth "tls" is an object, else null)
  bool complete = false;
  std::string_view version;  // "TLSv1.3", "TLSv1.2", "TLSv1"
  std::string_view group;    // "" when DHE (JSON null)
  int dh_bits = 0;           // 0 = null
  bool chain_valid = false;  // the verify error text is computed from the real chain
  bool name_match = false;
};

struct ProfileInfo {
  Profile profile;
  std::string_view name;
  int default_weight;
  ProbeOutcome outcome;
  ProbeStage stage;
  bool helo_fallback;
  bool pipelined_after_starttls;
  TlsKind tls_kind;
  CertKind cert_kind;
  TlsExpectation tls;
  std::string_view summary;  // one line for docs and --help
};

const std::array<ProfileInfo, kProfileCount>& ProfileCatalogue();
const ProfileInfo& Info(Profile p);
std::optional<Profile> ParseProfile(std::string_view name);

// Profile weights (index = Profile). Every weight >= 0; the sum is > 0.
using ProfileMix = std::array<uint32_t, kProfileCount>;
ProfileMix DefaultMix();
// Parses a --mix file: "profile weight" per line, '#' comments, blank lines ignored. Profiles
// not named get weight 0 and do not appear in the world at all. Errors name the line.
absl::StatusOr<ProfileMix> ParseMix(std::string_view text, std::string_view file_name);

}  // namespace mxcensus::lab
