#include "tests/unit/probe/cert_util.h"

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

namespace mxcensus::tls::testing {

EvpPkeyPtr NewEcKey() { return EvpPkeyPtr(EVP_EC_gen("P-256")); }
EvpPkeyPtr NewRsaKey(int bits) { return EvpPkeyPtr(EVP_RSA_gen(bits)); }

X509Ptr MakeCert(EVP_PKEY* key, const std::string& cn, const KeyAndCert* issuer, bool is_ca,
                 int not_before_days, int not_after_days) {
  X509Ptr c(X509_new());
  X509_set_version(c.get(), 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(c.get()), ++serial);
  X509_gmtime_adj(X509_getm_notBefore(c.get()), 86400L * not_before_days);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), 86400L * not_after_days);
  X509_set_pubkey(c.get(), key);
  X509_NAME* name = X509_get_subject_name(c.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(c.get(), issuer ? X509_get_subject_name(issuer->cert.get()) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer->cert.get() : c.get(), c.get(), nullptr, nullptr, 0);
  auto add = [&](int nid, const std::string& value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    X509_add_ext(c.get(), ext, -1);
    X509_EXTENSION_free(ext);
  };
  add(NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  if (is_ca) {
    add(NID_key_usage, "critical,keyCertSign,cRLSign");
  } else if (!cn.empty()) {
    add(NID_subject_alt_name, "DNS:" + cn);
  }
  X509_sign(c.get(), issuer ? issuer->key.get() : key, EVP_sha256());
  return c;
}

std::string ToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string ToDer(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

SslCtxPtr ServerCtx(const KeyAndCert& leaf, const std::vector<X509*>& extra_chain, int min_version,
                    int max_version) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  SSL_CTX_set_security_level(ctx.get(), 0);
  SSL_CTX_set_min_proto_version(ctx.get(), min_version);
  SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  SSL_CTX_set_cipher_list(ctx.get(), "ALL:@SECLEVEL=0");
  SSL_CTX_use_certificate(ctx.get(), leaf.cert.get());
  SSL_CTX_use_PrivateKey(ctx.get(), leaf.key.get());
  for (X509* c : extra_chain) {
    X509_up_ref(c);
    SSL_CTX_add_extra_chain_cert(ctx.get(), c);
  }
  return ctx;
}

}  // namespace mxcensus::tls::testing
