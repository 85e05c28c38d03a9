#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "worker/tls/ssl_ptr.h"

namespace mxcensus::tls {

// A TLS client over memory BIOs: the caller moves bytes between the socket and this object, so
// no socket ever touches OpenSSL (and tests can pair it with a server over a BIO pair).
// One per probe, created at the 220 reply to STARTTLS. Loop thread only.
class TlsClient {
 public:
  enum class Step : uint8_t { kWantMore, kComplete, kFailed };

  // `ctx` must outlive this. `sni` empty: no SNI extension.
  static absl::StatusOr<std::unique_ptr<TlsClient>> Create(SSL_CTX* ctx, const std::string& sni);

  // Begins the handshake (the ClientHello becomes pending output).
  Step Start();
  // Feeds bytes received from the peer during the handshake.
  Step FeedHandshake(std::string_view in);
  // Appends bytes to send to the peer to `*out`; returns how many.
  size_t TakeOutput(std::string* out);
  // After kComplete: encrypts application data (pending output afterwards).
  bool WritePlain(std::string_view plain);
  // After kComplete: feeds ciphertext and appends decrypted data to `*plain`. Returns false when
  // the TLS layer failed or the peer sent close_notify (`error()` says which).
  bool ReadPlain(std::string_view in, std::string* plain);

  SSL* ssl() const { return ssl_.get(); }
  // Why the handshake or a read failed (OpenSSL's reason text), "" otherwise.
  const std::string& error() const { return error_; }

 private:
  explicit TlsClient(SslPtr ssl, BIO* rbio, BIO* wbio)
      : ssl_(std::move(ssl)), rbio_(rbio), wbio_(wbio) {}
  Step Drive();

  SslPtr ssl_;
  BIO* rbio_;  // owned by ssl_
  BIO* wbio_;  // owned by ssl_
  std::string error_;
};

}  // namespace mxcensus::tls
