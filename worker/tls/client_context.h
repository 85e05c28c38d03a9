#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "worker/tls/ssl_ptr.h"

namespace mxcensus::tls {

// The handshake SSL_CTX shared by every probe of a process (SSL_CTX is thread-safe once set up).
// Built to observe rather than judge: security level 0, every protocol version this OpenSSL can
// still speak (SSLv3 if compiled in, else TLS 1.0) up to TLS 1.3, all ciphers, SSL_VERIFY_NONE
// and no trust store (so OpenSSL does not verify inside the handshake: ChainVerifier does that
// once per distinct chain), SSL_MODE_RELEASE_BUFFERS, no session cache.
class ClientContext {
 public:
  static absl::StatusOr<std::shared_ptr<ClientContext>> Create();
  SSL_CTX* get() const { return ctx_.get(); }

 private:
  explicit ClientContext(SslCtxPtr ctx) : ctx_(std::move(ctx)) {}
  SslCtxPtr ctx_;
};

// OpenSSL's error queue as one line ("reason; reason"), emptied so nothing leaks into the next
// probe. Returns "" when the queue was empty.
std::string DrainErrors();

}  // namespace mxcensus::tls
