#include "worker/tls/session_facts.h"

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <ctime>

#include "common/result_json.h"
#include "common/smtp/reply_parser.h"

namespace mxcensus::tls {
namespace {

std::string NameToString(const X509_NAME* name) {
  if (!name) return "";
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return "";
  // RFC 2253 order and escaping, but UTF-8 kept as is ("CN=mx1.example.test,O=Lab").
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  // A string type the printer does not convert (or a UTF8String that is not UTF-8) comes out
  // as the peer's bytes; see AddSans.
  return n > 0 ? smtp::SanitizeText(std::string_view(data, static_cast<size_t>(n))) : std::string();
}

int64_t AsnTimeToUnix(const ASN1_TIME* t) {
  struct tm tm {};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

std::string KeyType(const EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
      return "rsa";
    case EVP_PKEY_EC:
      return "ec";
    case EVP_PKEY_ED25519:
      return "ed25519";
    case EVP_PKEY_ED448:
      return "ed448";
    case EVP_PKEY_DSA:
      return "dsa";
    case EVP_PKEY_DH:
    case EVP_PKEY_DHX:
      return "dh";
    default:
      return "unknown";
  }
}

void AddSans(X509* cert, std::vector<std::string>* out) {
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type == GEN_DNS) {
      // The peer's bytes, which need not be ASCII, nor UTF-8, nor free of NUL: as they were,
      // they broke the worker's stream (a protobuf string must be UTF-8, so the coordinator
      // could not parse the batch, and the worker sent it again after every reconnect) and
      // could not go into a text column. Names matched against the MX name use the certificate
      // itself (X509_check_host), not this text.
      const ASN1_IA5STRING* s = gn->d.dNSName;
      out->push_back(smtp::SanitizeText(
          std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                           static_cast<size_t>(ASN1_STRING_length(s)))));
    } else if (gn->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* s = gn->d.iPAddress;
      char buf[64] = {0};
      int len = ASN1_STRING_length(s);
      const unsigned char* p = ASN1_STRING_get0_data(s);
      if (len == 4) {
        snprintf(buf, sizeof buf, "%u.%u.%u.%u", p[0], p[1], p[2], p[3]);
        out->emplace_back(buf);
      } else if (len == 16) {
        std::string v6;
        for (int k = 0; k < 16; k += 2) {
          snprintf(buf, sizeof buf, "%s%x", k ? ":" : "", (p[k] << 8) | p[k + 1]);
          v6 += buf;
        }
        out->push_back(v6);
      }
    }
  }
  GENERAL_NAMES_free(names);
}

}  // namespace

namespace {

const EVP_MD* FetchedSha256() {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);  // lives as long as we do
  return md;
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(ctx_.get(), FetchedSha256(), nullptr);
}

void Sha256::Update(std::string_view bytes) {
  EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size());
}

std::string Sha256::Digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_.get(), md, &len);
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string Sha256::HexDigest() { return HexEncode(Digest()); }

std::string Sha256Hex(std::string_view bytes) {
  Sha256 h;
  h.Update(bytes);
  return h.HexDigest();
}

std::string Sha256Digest(std::string_view bytes) {
  Sha256 h;
  h.Update(bytes);
  return h.Digest();
}

void CollectSessionFacts(SSL* ssl, TlsFacts* facts) {
  // Before ServerHello the version is the client's maximum: record it only once negotiated.
  if (SSL_get_session(ssl) && SSL_get_current_cipher(ssl)) {
    facts->version = SSL_get_version(ssl);
    facts->cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl));
  }
  int nid = SSL_get_negotiated_group(ssl);
  if (nid != NID_undef && (nid & TLSEXT_nid_unknown) == 0) {
    const char* name = SSL_group_to_name(ssl, nid);
    if (name) facts->group = name;
  }
  EVP_PKEY* tmp = nullptr;
  if (SSL_get_peer_tmp_key(ssl, &tmp) == 1 && tmp) {
    int id = EVP_PKEY_get_base_id(tmp);
    if (id == EVP_PKEY_DH || id == EVP_PKEY_DHX) facts->dh_bits = EVP_PKEY_get_bits(tmp);
    EVP_PKEY_free(tmp);
  }
}

CertSummary SummarizeCertificate(X509* cert, std::string_view der) {
  CertSummary s;
  if (!der.empty()) {
    s.sha256_hex = Sha256Hex(der);
  } else {
    unsigned char* buf = nullptr;
    int len = i2d_X509(cert, &buf);
    if (len > 0) {
      s.sha256_hex = Sha256Hex(std::string_view(reinterpret_cast<char*>(buf), len));
      OPENSSL_free(buf);
    }
  }
  s.subject = NameToString(X509_get_subject_name(cert));
  s.issuer = NameToString(X509_get_issuer_name(cert));
  AddSans(cert, &s.sans);
  s.not_before = AsnTimeToUnix(X509_get0_notBefore(cert));
  s.not_after = AsnTimeToUnix(X509_get0_notAfter(cert));
  if (EVP_PKEY* key = X509_get0_pubkey(cert)) {
    s.key_type = KeyType(key);
    s.key_bits = EVP_PKEY_get_bits(key);
  } else {
    s.key_type = "unknown";
  }
  int sig_nid = X509_get_signature_nid(cert);
  s.sig_alg = sig_nid != NID_undef ? OBJ_nid2ln(sig_nid) : "unknown";
  s.self_signed = X509_self_signed(cert, 0) == 1;
  return s;
}

}  // namespace mxcensus::tls
