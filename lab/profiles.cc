#include "lab/profiles.h"

#include <charconv>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace mxcensus::lab {
namespace {

using O = ProbeOutcome;
using S = ProbeStage;
using T = TlsKind;
using C = CertKind;

// A completed handshake with a valid chain and a matching name, at the given version/group.
constexpr TlsExpectation Good(std::string_view version, std::string_view group, int dh_bits = 0) {
  return TlsExpectation{true, true, version, group, dh_bits, true, true};
}
constexpr TlsExpectation Tls13(bool chain_valid, bool name_match) {
  return TlsExpectation{true, true, "TLSv1.3", "x25519", 0, chain_valid, name_match};
}
constexpr TlsExpectation kFailedTls{true, false, "", "", 0, false, false};
constexpr TlsExpectation kNoTls{};

// The catalogue. Weights are the default mix (relative; docs/lab.md shows them in percent).
constexpr std::array<ProfileInfo, kProfileCount> kCatalogue = {{
    {Profile::kModernTls13, "modern_tls13", 40, O::kStartTlsOk, S::kQuit, false, false, T::kEcdsa13,
     C::kEcdsaRoot, Good("TLSv1.3", "x25519"),
     "TLS 1.3, ECDSA P-256 certificate for the MX name from the lab root"},
    {Profile::kTls12RsaChain, "tls12_rsa_chain", 10, O::kStartTlsOk, S::kQuit, false, false,
     T::kRsaChain12, C::kRsaIntermediate, Good("TLSv1.2", "x25519"),
     "TLS 1.2 only, RSA leaf + RSA intermediate, ECDHE-RSA"},
    {Profile::kTls10Legacy, "tls10_legacy", 2, O::kStartTlsOk, S::kQuit, false, false, T::kTls10,
     C::kEcdsaRoot, Good("TLSv1", "x25519"),
     "TLS 1.0 only, legacy CBC-SHA suites (a client needs @SECLEVEL=0)"},
    {Profile::kDhe1024, "dhe_1024", 2, O::kStartTlsOk, S::kQuit, false, false, T::kDhe1024,
     C::kRsaIntermediate, Good("TLSv1.2", "", 1024),
     "DHE-RSA only with a 1024-bit group (logjam class)"},
    {Profile::kDhe512, "dhe_512", 1, O::kStartTlsOk, S::kQuit, false, false, T::kDhe512,
     C::kRsaIntermediate, Good("TLSv1.2", "", 512),
     "DHE-RSA only with a 512-bit group (export-grade, logjam)"},
    {Profile::kSelfSigned, "self_signed", 4, O::kStartTlsOk, S::kQuit, false, false, T::kEcdsa13,
     C::kSelfSigned, Tls13(false, true), "TLS 1.3, self-signed certificate for the MX name"},
    {Profile::kExpired, "expired", 3, O::kStartTlsOk, S::kQuit, false, false, T::kEcdsa13,
     C::kExpired, Tls13(false, true),
     "TLS 1.3, certificate from the lab root, expired 35 days ago"},
    {Profile::kWrongName, "wrong_name", 3, O::kStartTlsOk, S::kQuit, false, false, T::kEcdsa13,
     C::kOtherName, Tls13(true, false), "TLS 1.3, valid certificate for another name of the world"},
    {Profile::kMissingIntermediate, "missing_intermediate", 2, O::kStartTlsOk, S::kQuit, false,
     false, T::kEcdsaNoChain, C::kEcdsaIntermediate, Tls13(false, true),
     "TLS 1.3, leaf issued by the lab intermediate, sent without it"},
    {Profile::kNoStartTls, "no_starttls", 8, O::kNoStartTls, S::kQuit, false, false, T::kNone,
     C::kNone, kNoTls, "EHLO reply without STARTTLS"},
    {Profile::kStartTlsMasked, "starttls_masked", 1, O::kStartTlsStripped, S::kQuit, false, false,
     T::kNone, C::kNone, kNoTls, "STARTTLS masked as XXXXXXXA in the EHLO reply (a middlebox)"},
    {Profile::kStartTls454, "starttls_454", 1, O::kStartTlsRefused, S::kQuit, false, false,
     T::kNone, C::kNone, kNoTls, "STARTTLS advertised, answered 454 4.7.0 TLS not available"},
    {Profile::kTlsGarbage, "tls_garbage", 1, O::kTlsFailed, S::kTls, false, false, T::kNone,
     C::kNone, kFailedTls, "220 to STARTTLS, then plain-text garbage instead of a ServerHello"},
    {Profile::kTlsAlert, "tls_alert", 1, O::kTlsFailed, S::kTls, false, false, T::kNone, C::kNone,
     kFailedTls, "220 to STARTTLS, then a fatal handshake_failure alert (no shared cipher)"},
    {Profile::kBanner421, "banner_421", 1, O::kBannerRejected, S::kBanner, false, false, T::kNone,
     C::kNone, kNoTls, "greeting 421 4.3.2, then the server closes"},
    {Profile::kBanner554, "banner_554", 1, O::kBannerRejected, S::kBanner, false, false, T::kNone,
     C::kNone, kNoTls, "greeting 554 5.7.1 (waits for QUIT)"},
    {Profile::kEhlo502HeloOk, "ehlo_502_helo_ok", 1, O::kNoStartTls, S::kQuit, true, false,
     T::kNone, C::kNone, kNoTls, "EHLO rejected with 502, HELO accepted"},
    {Profile::kEhloHeloRejected, "ehlo_helo_rejected", 1, O::kEhloRejected, S::kHelo, true, false,
     T::kNone, C::kNone, kNoTls, "EHLO and HELO both rejected with 550"},
    {Profile::kMultiline, "multiline", 3, O::kStartTlsOk, S::kQuit, false, false, T::kEcdsa13,
     C::kEcdsaRoot, Good("TLSv1.3", "x25519"),
     "3-line greeting and a 40-line EHLO reply, then TLS 1.3"},
    {Profile::kSlowBanner, "slow_banner", 1, O::kStartTlsOk, S::kQuit, false, false, T::kEcdsa13,
     C::kEcdsaRoot, Good("TLSv1.3", "x25519"), "greeting delayed 2 s, then TLS 1.3"},
    {Profile::kTarpit, "tarpit", 1, O::kTimeout, S::kBanner, false, false, T::kNone, C::kNone,
     kNoTls, "accepts, never greets, holds the connection until the client leaves"},
    {Profile::kCloseAfterBanner, "close_after_banner", 1, O::kClosed, S::kEhlo, false, false,
     T::kNone, C::kNone, kNoTls, "greets, then closes at once"},
    {Profile::kHttp, "http", 1, O::kProtocolError, S::kBanner, false, false, T::kNone, C::kNone,
     kNoTls, "an HTTP server: answers the connection with an HTTP/1.1 400 response"},
    {Profile::kEhlo1MiB, "ehlo_1mib", 1, O::kProtocolError, S::kEhlo, false, false, T::kNone,
     C::kNone, kNoTls, "EHLO reply of 1 MiB of 250- lines that never ends"},
    {Profile::kStartTlsInjection, "starttls_injection", 1, O::kStartTlsOk, S::kQuit, false, true,
     T::kEcdsa13, C::kEcdsaRoot, Good("TLSv1.3", "x25519"),
     "sends \"250 injected\" in the same write as its 220 to STARTTLS, then TLS 1.3"},
    {Profile::kConnectRefused, "connect_refused", 2, O::kConnectRefused, S::kConnect, false, false,
     T::kNone, C::kNone, kNoTls, "nothing listens on the address"},
    // Weight 0: only in worlds whose --mix names it (the prober's memory benchmark holds
    // thousands of probes mid-handshake with it), so default worlds stay as they were.
    {Profile::kTlsStall, "tls_stall", 0, O::kTimeout, S::kTls, false, false, T::kNone, C::kNone,
     kFailedTls, "220 to STARTTLS, reads the ClientHello, then never answers"},
}};

constexpr bool CatalogueInOrder() {
  for (int i = 0; i < kProfileCount; ++i) {
    if (static_cast<int>(kCatalogue[i].profile) != i) return false;
  }
  return true;
}
static_assert(CatalogueInOrder(), "kCatalogue must follow the order of enum Profile");

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

const std::array<ProfileInfo, kProfileCount>& ProfileCatalogue() { return kCatalogue; }

const ProfileInfo& Info(Profile p) { return kCatalogue[static_cast<size_t>(p)]; }

std::optional<Profile> ParseProfile(std::string_view name) {
  for (const auto& info : kCatalogue) {
    if (info.name == name) return info.profile;
  }
  return std::nullopt;
}

ProfileMix DefaultMix() {
  ProfileMix mix{};
  for (const auto& info : kCatalogue) mix[static_cast<size_t>(info.profile)] = info.default_weight;
  return mix;
}

absl::StatusOr<ProfileMix> ParseMix(std::string_view text, std::string_view file_name) {
  ProfileMix mix{};
  std::array<bool, kProfileCount> seen{};
  uint64_t total = 0;
  int line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = Trim(line);
    if (line.empty()) continue;
    auto where = [&] { return absl::StrCat(std::string(file_name), ":", line_no, ": "); };
    size_t sp = line.find_first_of(" \t=,");
    if (sp == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(where(), "expected 'profile weight'"));
    }
    std::string_view name = Trim(line.substr(0, sp));
    std::string_view num = Trim(line.substr(sp + 1));
    auto p = ParseProfile(name);
    if (!p) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), "unknown profile '", std::string(name), "'"));
    }
    uint32_t w = 0;
    auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), w);
    if (ec != std::errc() || ptr != num.data() + num.size() || w > 1000000) {
      return absl::InvalidArgumentError(absl::StrCat(
          where(), "weight must be an integer 0..1000000, got '", std::string(num), "'"));
    }
    if (seen[static_cast<size_t>(*p)]) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), "profile '", std::string(name), "' given twice"));
    }
    seen[static_cast<size_t>(*p)] = true;
    mix[static_cast<size_t>(*p)] = w;
    total += w;
  }
  if (total == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(file_name), ": all weights are zero"));
  }
  return mix;
}

}  // namespace mxcensus::lab
