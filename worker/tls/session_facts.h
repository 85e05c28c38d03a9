#pragma once

#include <string>

#include "common/probe_result.h"
#include "worker/tls/ssl_ptr.h"

namespace mxcensus::tls {

// Records what a (complete or failed) handshake negotiated: version, cipher, key-exchange group
// or finite-field DH size. Chain and verification are ChainVerifier's job.
void CollectSessionFacts(SSL* ssl, TlsFacts* facts);

// The summary of one certificate (CertSummary in common/probe_result.h).
CertSummary SummarizeCertificate(X509* cert);

// Lower-case hex SHA-256 of `bytes`.
std::string Sha256Hex(std::string_view bytes);

}  // namespace mxcensus::tls
