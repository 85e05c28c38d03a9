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
#include "x509/x509.h"

namespace mxcensus::lab {

// Certificate generation is shared with `certs init` (x509/x509.h).
using x509::CertPem;
using x509::CertSpec;
using x509::Der;
using x509::EncodedPubkey;
using x509::EncodePubkey;
using x509::KeyPem;
using x509::MakeCert;
using x509::NewEcKey;
using x509::NewRsaKey;
using x509::Sha256Hex;
using x509::SslError;

// Finite-field DH parameters with generator 2 over the prime `p` (the 1024-bit group).
absl::StatusOr<EvpPkeyPtr> DhFromPrime(BIGNUM* p);
// The lab's fixed 512-bit safe-prime group.
absl::StatusOr<EvpPkeyPtr> Dh512();
// SHA-256 of the DER SubjectPublicKeyInfo (TLSA selector 1, matching type 1).
std::string SpkiSha256(EVP_PKEY* key);

}  // namespace mxcensus::lab
