#include "lab/pki.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/result_json.h"

namespace mxcensus::lab {

// A public key as a certificate carries it (algorithm + encoded key), extracted once per key.
// X509_set_pubkey() runs OpenSSL 3.0's encoder for every certificate (~300 us, measured: more
// than signing); copying the already encoded form costs nothing.
struct EncodedPubkey {
  const ASN1_OBJECT* algorithm = nullptr;  // owned by `holder`
  int param_type = V_ASN1_UNDEF;
  const void* param = nullptr;
  std::string key;
  X509Ptr holder;  // a certificate whose X509_PUBKEY the fields above point into
};

namespace {

constexpr int64_t kDay = 86400;
using BnPtr = std::unique_ptr<BIGNUM, FnDeleter<BN_free>>;

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

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status WriteAtomically(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp, ": ", strerror(errno)));
  }
  bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || chmod(tmp.c_str(), mode) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
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

absl::StatusOr<EvpPkeyPtr> LoadKey(const std::string& path) {
  auto text = ReadAll(path);
  if (!text.ok()) return text.status();
  BioPtr b(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  EvpPkeyPtr k(PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr));
  if (!k) return SslError(absl::StrCat("reading key ", path));
  return k;
}

absl::StatusOr<X509Ptr> LoadCert(const std::string& path) {
  auto text = ReadAll(path);
  if (!text.ok()) return text.status();
  BioPtr b(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  X509Ptr c(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  if (!c) return SslError(absl::StrCat("reading certificate ", path));
  return c;
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

struct CertSpec {
  const EncodedPubkey* pub = nullptr;  // when set, used instead of encoding `key` again
  std::string subject_cn;
  std::vector<std::string> sans;  // DNS names; empty for CAs
  EVP_PKEY* key = nullptr;        // the subject's key
  X509* issuer = nullptr;         // nullptr: self-signed
  EVP_PKEY* issuer_key = nullptr;
  int64_t not_before = 0, not_after = 0;
  bool ca = false;
  bool rsa_leaf = false;
};

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
  if (s.ca) {
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>("mxcensus lab"), -1, -1, 0);
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
    for (const auto& n : s.sans) absl::StrAppend(&sans, sans.empty() ? "" : ",", "DNS:", n);
    ok = AddExt(c.get(), issuer, NID_basic_constraints, "CA:FALSE") &&
         AddExt(c.get(), issuer, NID_key_usage,
                s.rsa_leaf ? "critical,digitalSignature,keyEncipherment"
                           : "critical,digitalSignature") &&
         AddExt(c.get(), issuer, NID_ext_key_usage, "serverAuth") &&
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

// A 1024-bit group: the RFC 2409 (Oakley group 2) prime, generator 2, as weak-DH servers ship.
absl::StatusOr<EvpPkeyPtr> DhFromPrime(BIGNUM* p) {
  BnPtr g(BN_new());
  BN_set_word(g.get(), 2);
  std::unique_ptr<OSSL_PARAM_BLD, FnDeleter<OSSL_PARAM_BLD_free>> bld(OSSL_PARAM_BLD_new());
  OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_FFC_P, p);
  OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_FFC_G, g.get());
  std::unique_ptr<OSSL_PARAM, FnDeleter<OSSL_PARAM_free>> params(
      OSSL_PARAM_BLD_to_param(bld.get()));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr));
  EVP_PKEY* out = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &out, EVP_PKEY_KEY_PARAMETERS, params.get()) <= 0) {
    return SslError("DH parameters");
  }
  return EvpPkeyPtr(out);
}

// A fixed 512-bit safe-prime group (generated once with `openssl dhparam 512`, generator 2):
// export-grade DH as logjam-vulnerable servers ship it. Embedded so that every lab is the same.
constexpr char kDh512Pem[] =
    "-----BEGIN DH PARAMETERS-----\n"
    "MEYCQQDKcrwCFhP2VxM0f0pYZqPgdqI6lBEL12L1mDCfjhO5G0n1D5HdogfGi5us\n"
    "T66qMdO29ldDtLsLzFPYjjRfi2tHAgEC\n"
    "-----END DH PARAMETERS-----\n";

absl::StatusOr<EvpPkeyPtr> Dh512() {
  BioPtr b(BIO_new_mem_buf(kDh512Pem, -1));
  EvpPkeyPtr k(PEM_read_bio_Parameters(b.get(), nullptr));
  if (!k) return SslError("512-bit DH parameters");
  return k;
}

std::string SpkiSha256(EVP_PKEY* key) {
  unsigned char* buf = nullptr;
  int len = i2d_PUBKEY(key, &buf);
  std::string out = Sha256Hex(buf, len);
  OPENSSL_free(buf);
  return out;
}

// The fingerprint of everything a leaf depends on except time: the roots and every host's
// certificate names. A different world (hosts, seed, mix, domains) or new CAs re-issue leaves.
std::string LeavesFingerprint(const World& w, X509* ec_root, X509* rsa_root) {
  std::string text = Der(ec_root) + Der(rsa_root);
  for (const Host& h : w.hosts) {
    absl::StrAppend(&text, static_cast<int>(h.profile), "|", h.name, "|", h.cert_name);
    for (const auto& a : h.aliases) absl::StrAppend(&text, "|", a);
    text.push_back('\n');
  }
  return Sha256Hex(reinterpret_cast<const unsigned char*>(text.data()), text.size());
}

}  // namespace

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

Pki::Pki() = default;
Pki::~Pki() = default;

X509* Pki::leaf(size_t host) const {
  if (!leaves_[host] && !leaf_der_[host].empty()) {
    const auto* der = reinterpret_cast<const unsigned char*>(leaf_der_[host].data());
    leaves_[host].reset(d2i_X509(nullptr, &der, static_cast<long>(leaf_der_[host].size())));
  }
  return leaves_[host].get();
}

std::string CertSha256Hex(X509* cert) {
  std::string der = Der(cert);
  return Sha256Hex(reinterpret_cast<const unsigned char*>(der.data()), der.size());
}

absl::StatusOr<std::unique_ptr<Pki>> Pki::LoadOrCreate(const std::string& dir, const World& world,
                                                       int64_t now) {
  std::unique_ptr<Pki> pki(new Pki());
  std::string pki_dir = dir.empty() ? std::string() : dir + "/pki";
  if (!pki_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(pki_dir, ec);
    if (ec) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create ", pki_dir, ": ", ec.message()));
    }
  }
  auto t0 = std::chrono::steady_clock::now();
  auto ms = [&t0] {
    auto t = std::chrono::steady_clock::now();
    double d = std::chrono::duration<double, std::milli>(t - t0).count();
    t0 = t;
    return d;
  };
  if (auto s = pki->LoadOrCreateCas(pki_dir, now); !s.ok()) return s;
  pki->timing_.cas_ms = ms();
  if (auto s = pki->LoadOrIssueLeaves(pki_dir, world, now); !s.ok()) return s;
  pki->timing_.leaves_ms = ms();
  if (auto s = pki->ComputeFacts(world); !s.ok()) return s;
  pki->timing_.facts_ms = ms();
  if (dir.empty()) return pki;
  std::string ca_pem = CertPem(pki->ec_root_.get()) + CertPem(pki->rsa_root_.get());
  if (auto s = WriteAtomically(dir + "/ca.pem", ca_pem, 0644); !s.ok()) return s;
  return pki;
}

absl::Status Pki::LoadOrCreateCas(const std::string& pki_dir, int64_t now) {
  struct Item {
    const char* key_file;
    const char* cert_file;
    EvpPkeyPtr* key;
    X509Ptr* cert;
  };
  const Item items[] = {{"ec-root.key", "ec-root.pem", &ec_root_key_, &ec_root_},
                        {"ec-int.key", "ec-int.pem", &ec_int_key_, &ec_int_},
                        {"ec-leaf.key", nullptr, &ec_leaf_key_, nullptr},
                        {"rsa-root.key", "rsa-root.pem", &rsa_root_key_, &rsa_root_},
                        {"rsa-int.key", "rsa-int.pem", &rsa_int_key_, &rsa_int_},
                        {"rsa-leaf.key", nullptr, &rsa_leaf_key_, nullptr}};
  bool loaded = !pki_dir.empty();
  for (const Item& it : items) {
    if (!loaded) break;
    auto k = LoadKey(pki_dir + "/" + it.key_file);
    if (!k.ok()) {
      loaded = false;
      break;
    }
    *it.key = *std::move(k);
    if (it.cert_file != nullptr) {
      auto c = LoadCert(pki_dir + "/" + it.cert_file);
      if (!c.ok()) {
        loaded = false;
        break;
      }
      *it.cert = *std::move(c);
    }
  }
  ERR_clear_error();
  if (!loaded) {
    // First start (or a damaged DIR): a fresh hierarchy, valid for ten years.
    for (EvpPkeyPtr* k : {&ec_root_key_, &ec_int_key_, &ec_leaf_key_}) {
      auto key = NewEcKey();
      if (!key.ok()) return key.status();
      *k = *std::move(key);
    }
    for (EvpPkeyPtr* k : {&rsa_root_key_, &rsa_int_key_, &rsa_leaf_key_}) {
      auto key = NewRsaKey();
      if (!key.ok()) return key.status();
      *k = *std::move(key);
    }
    const int64_t nb = now - 30 * kDay, na = now + 3650 * kDay;
    auto mk = [&](const char* cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                  X509Ptr* out) -> absl::Status {
      auto c = MakeCert({nullptr, cn, {}, key, issuer, issuer_key, nb, na, true, false});
      if (!c.ok()) return c.status();
      *out = *std::move(c);
      return absl::OkStatus();
    };
    if (auto s =
            mk("mxcensus lab root CA (ECDSA)", ec_root_key_.get(), nullptr, nullptr, &ec_root_);
        !s.ok()) {
      return s;
    }
    if (auto s = mk("mxcensus lab intermediate CA (ECDSA)", ec_int_key_.get(), ec_root_.get(),
                    ec_root_key_.get(), &ec_int_);
        !s.ok()) {
      return s;
    }
    if (auto s =
            mk("mxcensus lab root CA (RSA)", rsa_root_key_.get(), nullptr, nullptr, &rsa_root_);
        !s.ok()) {
      return s;
    }
    if (auto s = mk("mxcensus lab intermediate CA (RSA)", rsa_int_key_.get(), rsa_root_.get(),
                    rsa_root_key_.get(), &rsa_int_);
        !s.ok()) {
      return s;
    }
    for (const Item& it : items) {
      if (pki_dir.empty()) break;
      if (auto s = WriteAtomically(pki_dir + "/" + it.key_file, KeyPem(it.key->get()), 0600);
          !s.ok()) {
        return s;
      }
      if (it.cert_file != nullptr) {
        if (auto s = WriteAtomically(pki_dir + "/" + it.cert_file, CertPem(it.cert->get()), 0644);
            !s.ok()) {
          return s;
        }
      }
    }
  }
  BnPtr p(BN_get_rfc2409_prime_1024(nullptr));
  auto dh1024 = DhFromPrime(p.get());
  if (!dh1024.ok()) return dh1024.status();
  dh1024_ = *std::move(dh1024);
  auto dh512 = Dh512();
  if (!dh512.ok()) return dh512.status();
  dh512_ = *std::move(dh512);
  ec_leaf_pub_ = EncodePubkey(ec_leaf_key_.get());
  rsa_leaf_pub_ = EncodePubkey(rsa_leaf_key_.get());
  if (!ec_leaf_pub_ || !rsa_leaf_pub_) return SslError("encoding the leaf public keys");
  ec_spki_sha256_ = SpkiSha256(ec_leaf_key_.get());
  rsa_spki_sha256_ = SpkiSha256(rsa_leaf_key_.get());
  ec_root_sha256_ = CertSha256Hex(ec_root_.get());
  rsa_root_sha256_ = CertSha256Hex(rsa_root_.get());
  return absl::OkStatus();
}

absl::Status Pki::LoadOrIssueLeaves(const std::string& pki_dir, const World& world, int64_t now) {
  const std::string fp = LeavesFingerprint(world, ec_root_.get(), rsa_root_.get());
  const std::string cache = pki_dir + "/leaves.bin";
  leaves_.clear();
  leaves_.resize(world.hosts.size());
  leaf_der_.assign(world.hosts.size(), std::string());
  // Cache format: "mxcensus-lab-leaves 1 <fingerprint> <issued-at>\n", then per host a 4-byte
  // big-endian length and the DER (length 0: no certificate).
  auto data = pki_dir.empty() ? absl::StatusOr<std::string>(absl::NotFoundError("in memory"))
                              : ReadAll(cache);
  if (data.ok()) {
    size_t nl = data->find('\n');
    std::istringstream head(data->substr(0, nl == std::string::npos ? 0 : nl));
    std::string magic, version, file_fp;
    int64_t issued = 0;
    head >> magic >> version >> file_fp >> issued;
    // Reuse while the valid leaves have more than 30 days left (they are issued for 365).
    if (magic == "mxcensus-lab-leaves" && version == "1" && file_fp == fp &&
        now < issued + 335 * kDay) {
      size_t pos = nl + 1;
      bool ok = true;
      for (size_t i = 0; i < leaves_.size() && ok; ++i) {
        if (pos + 4 > data->size()) {
          ok = false;
          break;
        }
        const auto* u = reinterpret_cast<const unsigned char*>(data->data() + pos);
        uint32_t len =
            (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
        pos += 4;
        if (len == 0) continue;
        if (pos + len > data->size()) {
          ok = false;
          break;
        }
        leaf_der_[i].assign(data->data() + pos, len);  // parsed when first served
        pos += len;
      }
      if (ok && pos == data->size()) return absl::OkStatus();
      leaf_der_.assign(world.hosts.size(), std::string());
    }
  }
  leaves_issued_ = true;
  // Signing is the slow part of a first start (RSA leaves especially): spread it over the
  // cores. OpenSSL 3 keys and certificates are safe to use for signing from several threads.
  const size_t n = world.hosts.size();
  const size_t threads =
      std::clamp<size_t>(std::thread::hardware_concurrency(), 1, std::min<size_t>(4, n / 256 + 1));
  std::vector<absl::Status> results(threads);
  auto work = [&](size_t t) {
    for (size_t i = t; i < n; i += threads) {
      if (Info(world.hosts[i].profile).cert_kind == CertKind::kNone) continue;
      auto cert = IssueLeaf(world.hosts[i], now);
      if (!cert.ok()) {
        results[t] = cert.status();
        return;
      }
      leaf_der_[i] = Der(cert->get());
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  for (const auto& s : results) {
    if (!s.ok()) return s;
  }
  if (pki_dir.empty()) return absl::OkStatus();
  std::string out = absl::StrCat("mxcensus-lab-leaves 1 ", fp, " ", now, "\n");
  for (size_t i = 0; i < n; ++i) {
    const std::string& der = leaf_der_[i];
    const uint32_t len = static_cast<uint32_t>(der.size());
    const char be[4] = {static_cast<char>(len >> 24), static_cast<char>(len >> 16),
                        static_cast<char>(len >> 8), static_cast<char>(len)};
    out.append(be, 4);
    out += der;
  }
  return WriteAtomically(cache, out, 0644);
}

absl::StatusOr<X509Ptr> Pki::IssueLeaf(const Host& h, int64_t now) const {
  CertSpec s;
  s.subject_cn = h.cert_name.empty() ? h.name : h.cert_name;
  s.sans.push_back(s.subject_cn);
  for (const auto& a : h.aliases) s.sans.push_back(a);
  s.key = ec_leaf_key_.get();
  s.pub = ec_leaf_pub_.get();
  s.issuer = ec_root_.get();
  s.issuer_key = ec_root_key_.get();
  s.not_before = now - 30 * kDay;
  s.not_after = now + 365 * kDay;
  switch (Info(h.profile).cert_kind) {
    case CertKind::kNone:
    case CertKind::kEcdsaRoot:
    case CertKind::kOtherName:
      break;
    case CertKind::kRsaIntermediate:
      s.key = rsa_leaf_key_.get();
      s.pub = rsa_leaf_pub_.get();
      s.issuer = rsa_int_.get();
      s.issuer_key = rsa_int_key_.get();
      s.rsa_leaf = true;
      break;
    case CertKind::kEcdsaIntermediate:
      s.issuer = ec_int_.get();
      s.issuer_key = ec_int_key_.get();
      break;
    case CertKind::kSelfSigned:
      s.issuer = nullptr;
      s.issuer_key = nullptr;
      break;
    case CertKind::kExpired:
      s.not_before = now - 400 * kDay;
      s.not_after = now - 35 * kDay;
      break;
  }
  return MakeCert(s);
}

absl::Status Pki::ComputeFacts(const World& world) {
  X509StorePtr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ec_root_.get());
  X509_STORE_add_cert(store.get(), rsa_root_.get());
  // The verdict depends only on the certificate kind (same issuer, same validity window), so the
  // chain is verified once per kind, as a prober would see it, and reused for every host.
  std::array<std::optional<std::pair<bool, std::optional<std::string>>>, 7> by_kind;
  facts_.assign(world.hosts.size(), LeafFacts{});
  for (size_t i = 0; i < world.hosts.size(); ++i) {
    const Host& h = world.hosts[i];
    if (leaf_der_[i].empty()) continue;
    CertKind kind = Info(h.profile).cert_kind;
    LeafFacts& f = facts_[i];
    // The leaf's SANs are its subject name and all the host's aliases (IssueLeaf): it matches
    // the MX name (and every alias) unless it was issued for another name.
    f.name_match = h.cert_name.empty();
    auto& verdict = by_kind[static_cast<size_t>(kind)];
    if (!verdict) {
      // Verified on the parsed certificate, as a prober sees it; the name too, which checks
      // the shortcut above once per kind.
      X509* leaf = this->leaf(i);
      if (leaf == nullptr) return SslError("parsing a leaf");
      bool parsed_match = X509_check_host(leaf, h.name.data(), h.name.size(), 0, nullptr) == 1;
      for (const auto& alias : h.aliases) {
        parsed_match =
            parsed_match && X509_check_host(leaf, alias.data(), alias.size(), 0, nullptr) == 1;
      }
      if (parsed_match != f.name_match) {
        return absl::InternalError(absl::StrCat("lab self-check: name match of ", h.name));
      }
      struct StackFree {
        void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }
      };
      std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
      if (kind == CertKind::kRsaIntermediate) sk_X509_push(untrusted.get(), rsa_int_.get());
      X509StoreCtxPtr ctx(X509_STORE_CTX_new());
      X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get());
      X509_VERIFY_PARAM_set_purpose(X509_STORE_CTX_get0_param(ctx.get()), X509_PURPOSE_SSL_SERVER);
      bool ok = X509_verify_cert(ctx.get()) == 1;
      int err = X509_STORE_CTX_get_error(ctx.get());
      verdict.emplace(
          ok, ok ? std::nullopt : std::optional<std::string>(X509_verify_cert_error_string(err)));
      ERR_clear_error();
    }
    f.sha256_hex =
        Sha256Hex(reinterpret_cast<const unsigned char*>(leaf_der_[i].data()), leaf_der_[i].size());
    f.chain_valid = verdict->first;
    f.verify_error = verdict->second;
    const TlsExpectation& want = Info(h.profile).tls;
    if (f.chain_valid != want.chain_valid || f.name_match != want.name_match) {
      return absl::InternalError(absl::StrCat(
          "lab self-check: host ", h.name, " (", std::string(Info(h.profile).name),
          ") has chain_valid=", f.chain_valid ? "true" : "false",
          " name_match=", f.name_match ? "true" : "false", ", the catalogue says otherwise"));
    }
  }
  return absl::OkStatus();
}

std::string Pki::TlsaData(const Host& host, uint8_t usage) const {
  CertKind kind = Info(host.profile).cert_kind;
  const bool rsa = kind == CertKind::kRsaIntermediate;
  if (usage == 3) return rsa ? rsa_spki_sha256_ : ec_spki_sha256_;
  if (kind == CertKind::kSelfSigned) return facts_[host.index].sha256_hex;
  return rsa ? rsa_root_sha256_ : ec_root_sha256_;
}

}  // namespace mxcensus::lab
