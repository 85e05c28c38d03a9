#include "lab/server_tls.h"

#include <openssl/err.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace mxcensus::lab {
namespace {

struct CtxSpec {
  TlsKind kind;
  int min_version, max_version;
  const char* ciphers;  // TLS 1.2 and below; nullptr = OpenSSL's default
  const char* groups;
  bool rsa;
  int security_level;  // -1: OpenSSL's default
  int dh_bits;         // 0: no DHE
};

constexpr CtxSpec kSpecs[] = {
    {TlsKind::kEcdsa13, TLS1_2_VERSION, TLS1_3_VERSION, nullptr, "X25519", false, -1, 0},
    {TlsKind::kRsaChain12, TLS1_2_VERSION, TLS1_2_VERSION,
     "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384", "X25519", true, -1, 0},
    {TlsKind::kTls10, TLS1_VERSION, TLS1_VERSION,
     "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:@SECLEVEL=0", "X25519", false, 0, 0},
    {TlsKind::kDhe1024, TLS1_2_VERSION, TLS1_2_VERSION,
     "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-SHA:@SECLEVEL=0", "X25519",
     true, 0, 1024},
    {TlsKind::kDhe512, TLS1_2_VERSION, TLS1_2_VERSION,
     "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-SHA:@SECLEVEL=0", "X25519",
     true, 0, 512},
    {TlsKind::kEcdsaNoChain, TLS1_2_VERSION, TLS1_3_VERSION, nullptr, "X25519", false, -1, 0},
};

int AllowEverything(const SSL*, const SSL_CTX*, int, int, int, void*, void*) { return 1; }

absl::Status Err(const char* what, TlsKind kind) {
  return absl::InternalError(absl::StrCat("server TLS context ", static_cast<int>(kind), ": ", what,
                                          ": ", OpenSslErrors()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerTls>> ServerTls::Create(const Pki& pki) {
  std::unique_ptr<ServerTls> tls(new ServerTls(pki));
  for (const CtxSpec& s : kSpecs) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) return Err("SSL_CTX_new", s.kind);
    SSL_CTX* c = ctx.get();
    // The lab serves thousands of handshakes per second: no tickets, no session cache.
    // Sessions are short (handshake, EHLO, QUIT): keeping the record buffers for the few
    // milliseconds a session lives is cheaper than SSL_MODE_RELEASE_BUFFERS (measured: +6% CPU).
    SSL_CTX_set_mode(c, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(c, SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_num_tickets(c, 0);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    if (s.security_level >= 0) SSL_CTX_set_security_level(c, s.security_level);
    if (s.dh_bits == 512) {
      // Even at level 0 OpenSSL's default policy refuses DH groups under 80 security bits
      // (ssl_security_default_callback); an export-grade server has no such policy.
      SSL_CTX_set_security_callback(c, AllowEverything);
    }
    if (SSL_CTX_set_min_proto_version(c, s.min_version) != 1 ||
        SSL_CTX_set_max_proto_version(c, s.max_version) != 1) {
      return Err("protocol versions", s.kind);
    }
    if (s.ciphers != nullptr && SSL_CTX_set_cipher_list(c, s.ciphers) != 1) {
      return Err("cipher list", s.kind);
    }
    if (SSL_CTX_set1_groups_list(c, s.groups) != 1) return Err("groups", s.kind);
    EVP_PKEY* key = s.rsa ? pki.rsa_leaf_key() : pki.ec_leaf_key();
    if (SSL_CTX_use_PrivateKey(c, key) != 1) return Err("private key", s.kind);
    if (s.rsa && SSL_CTX_add1_chain_cert(c, pki.rsa_intermediate()) != 1) {
      return Err("chain", s.kind);
    }
    if (s.dh_bits != 0) {
      EVP_PKEY* dh = s.dh_bits == 1024 ? pki.dh1024() : pki.dh512();
      EVP_PKEY_up_ref(dh);
      if (SSL_CTX_set0_tmp_dh_pkey(c, dh) != 1) {
        EVP_PKEY_free(dh);
        return Err("DH group", s.kind);
      }
    }
    tls->ctx_[static_cast<size_t>(s.kind)] = std::move(ctx);
  }
  return tls;
}

SSL* ServerTls::NewSession(const Host& host, int fd) const {
  SSL_CTX* ctx = ctx_[static_cast<size_t>(Info(host.profile).tls_kind)].get();
  X509* leaf = pki_.leaf(host.index);
  if (ctx == nullptr || leaf == nullptr) return nullptr;
  SslPtr ssl(SSL_new(ctx));
  if (!ssl || SSL_use_certificate(ssl.get(), leaf) != 1 || SSL_set_fd(ssl.get(), fd) != 1) {
    ERR_clear_error();
    return nullptr;
  }
  SSL_set_accept_state(ssl.get());
  return ssl.release();
}

}  // namespace mxcensus::lab
