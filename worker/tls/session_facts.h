#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/probe_result.h"
#include "worker/tls/ssl_ptr.h"

namespace mxcensus::tls {

// Records what a (complete or failed) handshake negotiated: version, cipher, key-exchange group
// or finite-field DH size. Chain and verification are ChainVerifier's job.
void CollectSessionFacts(SSL* ssl, TlsFacts* facts);

// The summary of one certificate (CertSummary in common/probe_result.h). `der`, when given,
// is the certificate's DER (spares encoding it again for its SHA-256).
CertSummary SummarizeCertificate(X509* cert, std::string_view der = {});

// Lower-case hex SHA-256 of `bytes`.
std::string Sha256Hex(std::string_view bytes);
// The raw 32 bytes of SHA-256 of `bytes`.
std::string Sha256Digest(std::string_view bytes);

// Incremental SHA-256 with the algorithm fetched once per process: EVP_Digest(...,
// EVP_sha256(), ...) fetches it from the provider on every call (OpenSSL 3.0), which costs more
// than hashing a certificate.
class Sha256 {
 public:
  Sha256();
  void Update(std::string_view bytes);
  std::string HexDigest();  // ends this hash
  std::string Digest();     // ends this hash: the raw bytes

 private:
  std::unique_ptr<EVP_MD_CTX, FnDeleter<EVP_MD_CTX_free>> ctx_;
};

}  // namespace mxcensus::tls
