#include "worker/tls/client_context.h"

#include <openssl/err.h>

#include "absl/status/status.h"

namespace mxcensus::tls {

std::string DrainErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    std::string text = reason ? reason : ("error " + std::to_string(ERR_GET_REASON(e)));
    if (out.find(text) != std::string::npos) continue;
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out;
}

absl::StatusOr<std::shared_ptr<ClientContext>> ClientContext::Create() {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return absl::InternalError("SSL_CTX_new: " + DrainErrors());
  SSL_CTX_set_security_level(ctx.get(), 0);
  // Even level 0 refuses DHE groups under 80 security bits ("dh key too small"), so a 512-bit
  // export-grade server would go unrecorded. This callback accepts whatever the library can
  // negotiate: we observe weak parameters, we do not rely on them.
  SSL_CTX_set_security_callback(
      ctx.get(), [](const SSL*, const SSL_CTX*, int, int, int, void*, void*) { return 1; });
  // The lowest version this build accepts: SSLv3 when compiled in, else TLS 1.0.
  if (SSL_CTX_set_min_proto_version(ctx.get(), SSL3_VERSION) != 1) {
    ERR_clear_error();
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_VERSION);
  }
  SSL_CTX_set_max_proto_version(ctx.get(), 0);  // the highest this build knows
  if (SSL_CTX_set_cipher_list(ctx.get(), "ALL:COMPLEMENTOFALL:@SECLEVEL=0") != 1) {
    return absl::InternalError("SSL_CTX_set_cipher_list: " + DrainErrors());
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  // Legacy servers: allow unsafe legacy renegotiation info, no middlebox-compat quirks needed.
  SSL_CTX_set_options(ctx.get(), SSL_OP_LEGACY_SERVER_CONNECT | SSL_OP_NO_TICKET);
  return std::shared_ptr<ClientContext>(new ClientContext(std::move(ctx)));
}

}  // namespace mxcensus::tls
