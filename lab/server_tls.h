#pragma once

#include <array>
#include <memory>

#include "absl/status/statusor.h"
#include "lab/ossl.h"
#include "lab/pki.h"
#include "lab/world.h"

namespace mxcensus::lab {

// The server side TLS of one serving process: one SSL_CTX per TlsKind, shared by every
// connection of that kind; each connection's SSL gets its host's leaf. Loop thread only.
class ServerTls {
 public:
  // `pki` must outlive this.
  static absl::StatusOr<std::unique_ptr<ServerTls>> Create(const Pki& pki);

  // A server SSL on `fd` in accept state presenting host's certificate, or null on failure
  // (the error queue is drained). The caller owns the result.
  SSL* NewSession(const Host& host, int fd) const;

 private:
  explicit ServerTls(const Pki& pki) : pki_(pki) {}
  const Pki& pki_;
  std::array<SslCtxPtr, 7> ctx_;  // index = TlsKind
};

}  // namespace mxcensus::lab
