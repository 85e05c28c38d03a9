#include "x509/x509.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"
#include "common/result_json.h"

namespace mxcensus::x509 {
namespace {

using BnPtr = std::unique_ptr<BIGNUM, FnDeleter<BN_free>>;

bool SetEncodedPubkey(X509* cert, const EncodedPubkey& e) {
  void* param = nullptr;
  if (e.param_type == V_ASN1_OBJECT) {
    param = OBJ_dup(static_cast<const ASN1_OBJECT*>(e.param));
  } else if (e.param_type != V_ASN1_NULL && e.param_type != V_ASN1_UNDEF) {
    return false;  // RSA (NULL) and EC (named curve) are all the lab uses
  }
  auto* enc = static_cast<unsigned char*>(OPENSSL_memdup(e.key.data(), e.key.size()));
  if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), OBJ_dup(e.algorithm), e.param_type, param,
                             enc, static_cast<int>(e.key.size())) != 1) {
    OPENSSL_free(enc);
    return false;
  }
  return true;
}

bool IsIpLiteral(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

}  // namespace

absl::Status SslError(std::string_view what) {
  return absl::InternalError(absl::StrCat(std::string(what), ": ", OpenSslErrors()));
}

std::string Sha256Hex(const unsigned char* data, size_t len) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(data, len, md);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(md), sizeof md));
}

std::string Der(X509* cert) {
  unsigned char* buf = nullptr;
  int len = i2d_X509(cert, &buf);
  if (len <= 0) return {};
  std::string out(reinterpret_cast<char*>(buf), len);
  OPENSSL_free(buf);
  return out;
}

absl::StatusOr<EvpPkeyPtr> NewEcKey() {
  EvpPkeyPtr k(EVP_EC_gen("P-256"));
  if (!k) return SslError("EC key generation");
  return k;
}

absl::StatusOr<EvpPkeyPtr> NewRsaKey() {
  EvpPkeyPtr k(EVP_RSA_gen(2048));
  if (!k) return SslError("RSA key generation");
  return k;
}

std::string KeyPem(EVP_PKEY* k) {
  BioPtr b(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr);
  char* p = nullptr;
  long n = BIO_get_mem_data(b.get(), &p);
  return std::string(p, n);
}

std::string CertPem(X509* c) {
  BioPtr b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(b.get(), c);
  char* p = nullptr;
  long n = BIO_get_mem_data(b.get(), &p);
  return std::string(p, n);
}

std::unique_ptr<EncodedPubkey> EncodePubkey(EVP_PKEY* key) {
  auto e = std::make_unique<EncodedPubkey>();
  e->holder.reset(X509_new());
  if (!e->holder || X509_set_pubkey(e->holder.get(), key) != 1) return nullptr;
  const unsigned char* pk = nullptr;
  int pklen = 0;
  X509_ALGOR* alg = nullptr;
  if (X509_PUBKEY_get0_param(nullptr, &pk, &pklen, &alg, X509_get_X509_PUBKEY(e->holder.get())) !=
      1) {
    return nullptr;
  }
  X509_ALGOR_get0(&e->algorithm, &e->param_type, &e->param, alg);
  e->key.assign(reinterpret_cast<const char*>(pk), static_cast<size_t>(pklen));
  return e;
}

absl::StatusOr<X509Ptr> MakeCert(const CertSpec& s) {
  X509Ptr c(X509_new());
  if (!c) return SslError("X509_new");
  X509_set_version(c.get(), X509_VERSION_3);
  unsigned char serial_bytes[15];
  if (RAND_bytes(serial_bytes, sizeof serial_bytes) != 1) return SslError("RAND_bytes");
  serial_bytes[0] &= 0x7f;  // positive
  serial_bytes[0] |= 0x01;  // and of full length
  BnPtr bn(BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr));
  BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(c.get()));
  X509_NAME* name = X509_get_subject_name(c.get());
  if (!s.organization.empty()) {
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(s.organization.c_str()), -1,
                               -1, 0);
  }
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(s.subject_cn.c_str()), -1, -1,
                             0);
  X509* issuer = s.issuer != nullptr ? s.issuer : c.get();
  X509_set_issuer_name(c.get(), X509_get_subject_name(issuer));
  ASN1_TIME_set(X509_getm_notBefore(c.get()), static_cast<time_t>(s.not_before));
  ASN1_TIME_set(X509_getm_notAfter(c.get()), static_cast<time_t>(s.not_after));
  if (s.pub != nullptr ? !SetEncodedPubkey(c.get(), *s.pub)
                       : X509_set_pubkey(c.get(), s.key) != 1) {
    return SslError("certificate public key");
  }
  bool ok = true;
  if (s.ca) {
    ok = AddExt(c.get(), issuer, NID_basic_constraints,
                s.issuer != nullptr ? "critical,CA:TRUE,pathlen:0" : "critical,CA:TRUE") &&
         AddExt(c.get(), issuer, NID_key_usage, "critical,keyCertSign,cRLSign") &&
         AddExt(c.get(), issuer, NID_subject_key_identifier, "hash");
  } else {
    std::string sans;
    for (const auto& n : s.sans) {
      absl::StrAppend(&sans, sans.empty() ? "" : ",", IsIpLiteral(n) ? "IP:" : "DNS:", n);
    }
    ok = AddExt(c.get(), issuer, NID_basic_constraints, "CA:FALSE") &&
         AddExt(c.get(), issuer, NID_key_usage,
                s.rsa_leaf ? "critical,digitalSignature,keyEncipherment"
                           : "critical,digitalSignature") &&
         AddExt(c.get(), issuer, NID_ext_key_usage,
                s.purpose == Purpose::kClient ? "clientAuth" : "serverAuth") &&
         AddExt(c.get(), issuer, NID_subject_alt_name, sans);
  }
  if (s.issuer != nullptr) {
    ok = ok && AddExt(c.get(), issuer, NID_authority_key_identifier, "keyid:always");
  }
  if (!ok) return SslError("certificate extensions");
  if (X509_sign(c.get(), s.issuer_key != nullptr ? s.issuer_key : s.key, EVP_sha256()) <= 0) {
    return SslError("X509_sign");
  }
  // With `pub`, OpenSSL 3.0 never decodes the key of this object (X509_get0_pubkey returns
  // NULL): only its DER is used, parsed again where it is served (Pki::leaf).
  return c;
}

std::string OpenSslErrors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    absl::StrAppend(&out, out.empty() ? "" : "; ", buf);
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

std::string CertSha256Hex(X509* cert) {
  std::string der = Der(cert);
  return Sha256Hex(reinterpret_cast<const unsigned char*>(der.data()), der.size());
}

}  // namespace mxcensus::x509
