#pragma once

// X.509 generation with OpenSSL 3.0: keys, certificates (CA, server, client), PEM output.
// Used by the lab's PKI and by `mxcensus certs init`.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "x509/ossl_ptr.h"

namespace mxcensus::x509 {

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

// What a leaf certificate is for (its extendedKeyUsage).
enum class Purpose { kServer, kClient };

// What to issue. `key` is the subject's key; `issuer` null means self-signed.
struct CertSpec {
  const EncodedPubkey* pub = nullptr;  // when set, used instead of encoding `key` again
  std::string subject_cn;
  // Leaf subjectAltNames: IPv4/IPv6 literals become IP entries, the rest DNS names. Empty for CAs.
  std::vector<std::string> sans;
  EVP_PKEY* key = nullptr;  // the subject's key
  X509* issuer = nullptr;   // nullptr: self-signed
  EVP_PKEY* issuer_key = nullptr;
  int64_t not_before = 0, not_after = 0;
  bool ca = false;
  bool rsa_leaf = false;
  std::string organization;            // O= of the subject, when not empty
  Purpose purpose = Purpose::kServer;  // leaves only
};

// The text of OpenSSL's error queue (drained), for our own failures.
std::string OpenSslErrors();
// An internal error carrying OpenSSL's drained error queue.
absl::Status SslError(std::string_view what);
// Lower-case hex SHA-256.
std::string Sha256Hex(const unsigned char* data, size_t len);
// The DER of a certificate ("" on failure).
std::string Der(X509* cert);
// Lower-case hex SHA-256 of a certificate's DER.
std::string CertSha256Hex(X509* cert);
absl::StatusOr<EvpPkeyPtr> NewEcKey();   // P-256
absl::StatusOr<EvpPkeyPtr> NewRsaKey();  // 2048 bits
std::string KeyPem(EVP_PKEY* key);
std::string CertPem(X509* cert);
// The encoded public key of `key`, to copy into many certificates; null on failure.
std::unique_ptr<EncodedPubkey> EncodePubkey(EVP_PKEY* key);
// Builds and signs a certificate (SHA-256). CA certificates get basicConstraints CA:TRUE
// (pathlen 0 when issued by another CA); leaves get serverAuth or clientAuth and the SANs.
absl::StatusOr<X509Ptr> MakeCert(const CertSpec& spec);

}  // namespace mxcensus::x509
