#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lab/ossl.h"
#include "lab/world.h"

namespace mxcensus::lab {

// What the TLS of one host is guaranteed to show, computed from the certificates themselves.
struct LeafFacts {
  std::string sha256_hex;                   // of the leaf DER
  bool chain_valid = false;                 // served chain against DIR/ca.pem
  std::optional<std::string> verify_error;  // X509_verify_cert_error_string, unset when valid
  bool name_match = false;                  // leaf vs the host's MX name
};

// The lab's certificates: an ECDSA P-256 root and intermediate, an RSA-2048 root and
// intermediate, one leaf key per algorithm (shared by all leaves of that algorithm: key
// generation is the slow part), one leaf certificate per host, and the weak DH groups.
// Everything is kept in DIR/pki and reused on later starts (leaves while the world is the same).
using x509::EncodedPubkey;

class Pki {
 public:
  // Loads DIR/pki or creates it, issues (or reloads) the leaves of `world`, writes DIR/ca.pem.
  // `now` is the Unix time validity windows are computed from. An empty `dir` keeps everything
  // in memory (unit tests).
  ~Pki();
  static absl::StatusOr<std::unique_ptr<Pki>> LoadOrCreate(const std::string& dir,
                                                           const World& world, int64_t now);

  // The leaf of host i (nullptr when its profile presents no certificate). Parsed from its
  // DER on first use (parsing decodes the public key: ~100-200 us, too slow for 20,000 leaves
  // at startup), so each serving process parses only the leaves it serves. Not thread-safe.
  X509* leaf(size_t host) const;
  const LeafFacts& facts(size_t host) const { return facts_[host]; }
  EVP_PKEY* ec_leaf_key() const { return ec_leaf_key_.get(); }
  EVP_PKEY* rsa_leaf_key() const { return rsa_leaf_key_.get(); }
  X509* rsa_intermediate() const { return rsa_int_.get(); }
  EVP_PKEY* dh1024() const { return dh1024_.get(); }
  EVP_PKEY* dh512() const { return dh512_.get(); }
  // TLSA certificate-association data (lower-case hex) for `host`: usage 3 = SHA-256 of the
  // leaf's SubjectPublicKeyInfo (3 1 1), usage 2 = SHA-256 of the trust anchor's DER (2 0 1).
  std::string TlsaData(const Host& host, uint8_t usage) const;
  struct Timing {
    double cas_ms = 0, leaves_ms = 0, facts_ms = 0;
  };
  const Timing& timing() const { return timing_; }
  // True when the leaves were issued now rather than reloaded.
  bool leaves_issued() const { return leaves_issued_; }

 private:
  Pki();
  absl::Status LoadOrCreateCas(const std::string& pki_dir, int64_t now);
  absl::Status LoadOrIssueLeaves(const std::string& pki_dir, const World& world, int64_t now);
  absl::Status ComputeFacts(const World& world);
  absl::StatusOr<X509Ptr> IssueLeaf(const Host& host, int64_t now) const;

  EvpPkeyPtr ec_root_key_, ec_int_key_, ec_leaf_key_, rsa_root_key_, rsa_int_key_, rsa_leaf_key_;
  X509Ptr ec_root_, ec_int_, rsa_root_, rsa_int_;
  EvpPkeyPtr dh1024_, dh512_;
  std::vector<std::string> leaf_der_;    // per host, "" when none
  mutable std::vector<X509Ptr> leaves_;  // parsed on demand
  std::unique_ptr<EncodedPubkey> ec_leaf_pub_, rsa_leaf_pub_;
  std::vector<LeafFacts> facts_;
  std::string ec_spki_sha256_, rsa_spki_sha256_, ec_root_sha256_, rsa_root_sha256_;
  bool leaves_issued_ = false;
  Timing timing_;
};

using x509::CertSha256Hex;

}  // namespace mxcensus::lab
