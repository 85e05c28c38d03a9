#pragma once

#include <string>
#include <vector>

#include "worker/tls/ssl_ptr.h"

namespace mxcensus::tls::testing {

// In-memory certificates for TLS unit tests (no disk).
struct KeyAndCert {
  EvpPkeyPtr key;
  X509Ptr cert;
};

EvpPkeyPtr NewEcKey();
EvpPkeyPtr NewRsaKey(int bits);
// A certificate for `cn` (also the only DNS SAN unless `cn` is empty), signed by `issuer` (or
// self-signed when null), valid from now+not_before_days to now+not_after_days.
X509Ptr MakeCert(EVP_PKEY* key, const std::string& cn, const KeyAndCert* issuer, bool is_ca,
                 int not_before_days = -1, int not_after_days = 365);
std::string ToPem(X509* cert);
std::string ToDer(X509* cert);

// A server SSL_CTX presenting `leaf` (+ `extra_chain`), limited to [min,max] versions.
SslCtxPtr ServerCtx(const KeyAndCert& leaf, const std::vector<X509*>& extra_chain, int min_version,
                    int max_version);

}  // namespace mxcensus::tls::testing
