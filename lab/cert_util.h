#pragma once

// Certificate and key helpers of the lab's PKI (OpenSSL 3.0). Internal to lab/.

#include <openssl/bn.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lab/ossl.h"

namespace mxcensus::lab {

// A public key as a certificate carries it (algorithm + encoded key), extracted once per key.
// X509_set_pubkey() runs OpenSSL 3.0's encoder for every certificate (~300 us, measured: more
// than signing); copying the already encoded form costs nothing.
struct EncodedPubkey {
  const ASN1_OBJECT* algorithm = nullptr;  // owned by `holder`
  int param_type = V_ASN1_UNDEF;
  const void* param = nullptr;
  std::string key;
  X509Ptr holder;  // a certificate whose X509_PUBKEY the fields above point into
};

// What to issue. `key` is the subject's key; `issuer` null means self-signed.
struct CertSpec {
  const EncodedPubkey* pub = nullptr;  // when set, used instead of encoding `key` again
  std::string subject_cn;
  std::vector<std::string> sans;  // DNS names; empty for CAs
  EVP_PKEY* key = nullptr;        // the subject's key
  X509* issuer = nullptr;         // nullptr: self-signed
  EVP_PKEY* issuer_key = nullptr;
  int64_t not_before = 0, not_after = 0;
  bool ca = false;
  bool rsa_leaf = false;
};

// An internal error carrying OpenSSL's drained error queue.
absl::Status SslError(std::string_view what);
// Lower-case hex SHA-256.
std::string Sha256Hex(const unsigned char* data, size_t len);
// The DER of a certificate ("" on failure).
std::string Der(X509* cert);
absl::StatusOr<EvpPkeyPtr> NewEcKey();   // P-256
absl::StatusOr<EvpPkeyPtr> NewRsaKey();  // 2048 bits
std::string KeyPem(EVP_PKEY* key);
std::string CertPem(X509* cert);
// The encoded public key of `key`, to copy into many certificates; null on failure.
std::unique_ptr<EncodedPubkey> EncodePubkey(EVP_PKEY* key);
// Builds and signs a certificate (SHA-256). CA certificates get basicConstraints CA:TRUE
// (pathlen 0 when issued by another CA), leaves serverAuth and the SANs.
absl::StatusOr<X509Ptr> MakeCert(const CertSpec& spec);
// Finite-field DH parameters with generator 2 over the prime `p` (the 1024-bit group).
absl::StatusOr<EvpPkeyPtr> DhFromPrime(BIGNUM* p);
// The lab's fixed 512-bit safe-prime group.
absl::StatusOr<EvpPkeyPtr> Dh512();
// SHA-256 of the DER SubjectPublicKeyInfo (TLSA selector 1, matching type 1).
std::string SpkiSha256(EVP_PKEY* key);

}  // namespace mxcensus::lab
