#include "worker/tls/tls_client.h"

#include <openssl/err.h>

#include "absl/status/status.h"
#include "worker/tls/client_context.h"

namespace mxcensus::tls {
namespace {

// Turns SSL_get_error() and the error queue into one line of text.
std::string DescribeFailure(SSL* ssl, int rc) {
  int err = SSL_get_error(ssl, rc);
  std::string queued = DrainErrors();
  if (!queued.empty()) return queued;
  switch (err) {
    case SSL_ERROR_ZERO_RETURN:
      return "peer sent close_notify";
    case SSL_ERROR_SYSCALL:
      return "unexpected eof while reading";
    default:
      return "ssl error " + std::to_string(err);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<TlsClient>> TlsClient::Create(SSL_CTX* ctx, const std::string& sni) {
  ERR_clear_error();
  SslPtr ssl(SSL_new(ctx));
  if (!ssl) return absl::ResourceExhaustedError("SSL_new: " + DrainErrors());
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  if (!rbio || !wbio) {
    BIO_free(rbio);
    BIO_free(wbio);
    return absl::ResourceExhaustedError("BIO_new failed");
  }
  BIO_set_mem_eof_return(rbio, -1);    // "no data yet", not EOF
  SSL_set_bio(ssl.get(), rbio, wbio);  // takes ownership of both
  // SNI must be a host name: not an IP literal, not empty (RFC 6066 §3).
  if (!sni.empty() && sni.find(':') == std::string::npos &&
      sni.find_first_not_of("0123456789.") != std::string::npos) {
    std::string host = sni;
    if (host.back() == '.') host.pop_back();
    SSL_set_tlsext_host_name(ssl.get(), host.c_str());
  }
  SSL_set_connect_state(ssl.get());
  return std::unique_ptr<TlsClient>(new TlsClient(std::move(ssl), rbio, wbio));
}

TlsClient::Step TlsClient::Drive() {
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_.get());
  if (rc == 1) return Step::kComplete;
  int err = SSL_get_error(ssl_.get(), rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return Step::kWantMore;
  error_ = DescribeFailure(ssl_.get(), rc);
  return Step::kFailed;
}

TlsClient::Step TlsClient::Start() { return Drive(); }

TlsClient::Step TlsClient::FeedHandshake(std::string_view in) {
  if (!in.empty() && BIO_write(rbio_, in.data(), static_cast<int>(in.size())) <= 0) {
    error_ = "BIO_write failed";
    return Step::kFailed;
  }
  return Drive();
}

size_t TlsClient::TakeOutput(std::string* out) {
  size_t pending = BIO_ctrl_pending(wbio_);
  if (pending == 0) return 0;
  size_t old = out->size();
  out->resize(old + pending);
  int n = BIO_read(wbio_, out->data() + old, static_cast<int>(pending));
  out->resize(old + (n > 0 ? static_cast<size_t>(n) : 0));
  return n > 0 ? static_cast<size_t>(n) : 0;
}

bool TlsClient::WritePlain(std::string_view plain) {
  if (plain.empty()) return true;
  ERR_clear_error();
  size_t written = 0;
  int rc = SSL_write_ex(ssl_.get(), plain.data(), plain.size(), &written);
  if (rc != 1) {
    error_ = DescribeFailure(ssl_.get(), rc);
    return false;
  }
  return true;
}

bool TlsClient::ReadPlain(std::string_view in, std::string* plain) {
  if (!in.empty() && BIO_write(rbio_, in.data(), static_cast<int>(in.size())) <= 0) {
    error_ = "BIO_write failed";
    return false;
  }
  char buf[4096];
  for (;;) {
    ERR_clear_error();
    size_t n = 0;
    int rc = SSL_read_ex(ssl_.get(), buf, sizeof buf, &n);
    if (rc == 1) {
      plain->append(buf, n);
      continue;
    }
    int err = SSL_get_error(ssl_.get(), rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return true;
    error_ = DescribeFailure(ssl_.get(), rc);
    return false;
  }
}

}  // namespace mxcensus::tls
