#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/outcome.h"

namespace mxcensus {

// A certificate's summary, as recorded for the leaf (and stored per certificate).
struct CertSummary {
  std::string sha256_hex;  // lower-case hex of SHA-256 over the DER
  std::string subject;     // RFC 2253-style one-line form, e.g. "CN=mx1.example.test"
  std::string issuer;
  std::vector<std::string> sans;  // DNS names (and IP addresses as text)
  int64_t not_before = 0;         // Unix seconds
  int64_t not_after = 0;
  std::string key_type;  // "rsa", "ec", "ed25519", "ed448", "dsa", "dh", "unknown"
  int key_bits = 0;
  std::string sig_alg;  // OpenSSL long name, e.g. "ecdsa-with-SHA256"
  bool self_signed = false;
};

// What was learned from a TLS handshake (complete or not).
struct TlsFacts {
  std::string version;  // "TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1", "SSLv3"
  std::string cipher;
  std::string group;                   // ECDHE group name; "" for DHE or RSA key transport
  std::optional<int> dh_bits;          // finite-field DH size when DHE was negotiated
  std::vector<std::string> chain_der;  // raw DER, leaf first, as presented by the peer
  // Raw SHA-256 of each chain element, when the sender computed it (the pipeline's wire form).
  // A coordinator receives an element's DER empty when the worker knows it is stored already.
  std::vector<std::string> chain_sha256;
  std::optional<CertSummary> leaf;
  bool chain_valid = false;
  std::optional<std::string> verify_error;  // OpenSSL's verify error string, unset when valid
  bool name_match = false;
  std::optional<std::string> alert;  // alert / error text when the handshake failed
  bool handshake_complete = false;
};

// Milliseconds per stage; unset when the stage was not reached.
struct StageTimings {
  std::optional<double> connect, banner, ehlo, starttls, tls, ehlo_tls, quit;
  double total = 0;
};

struct ReplyCodes {
  std::optional<int> banner, ehlo, helo, starttls, ehlo_tls, quit;
};

// One probe's complete record: the JSON line of `mxcensus probe`, a row of `probe`, and the
// protobuf ProbeResult carry exactly these fields.
struct ProbeResult {
  std::string ip;
  uint16_t port = 25;
  std::string name;
  std::string tag;
  ProbeOutcome outcome = ProbeOutcome::kConnectFailed;
  ProbeStage stage = ProbeStage::kConnect;
  std::optional<std::string> error;
  std::string banner;
  std::vector<std::string> ehlo;      // first element: the EHLO greeting's domain text
  std::vector<std::string> ehlo_tls;  // EHLO reply inside TLS, same shape
  bool helo_fallback = false;
  bool pipelined_after_starttls = false;
  ReplyCodes codes;
  std::optional<TlsFacts> tls;  // unset when no handshake was attempted
  StageTimings timing_ms;
  int64_t started_at_ms = 0;  // Unix milliseconds
  uint64_t target_id = 0;     // coordinator's id; 0 for standalone probes
};

}  // namespace mxcensus
