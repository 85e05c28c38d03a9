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
#include "common/file_util.h"
#include "common/result_json.h"
#include "lab/cert_util.h"

namespace mxcensus::lab {

namespace {

constexpr int64_t kDay = 86400;
using BnPtr = std::unique_ptr<BIGNUM, FnDeleter<BN_free>>;

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
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

Pki::Pki() = default;
Pki::~Pki() = default;

X509* Pki::leaf(size_t host) const {
  if (!leaves_[host] && !leaf_der_[host].empty()) {
    const auto* der = reinterpret_cast<const unsigned char*>(leaf_der_[host].data());
    leaves_[host].reset(d2i_X509(nullptr, &der, static_cast<long>(leaf_der_[host].size())));
  }
  return leaves_[host].get();
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
  if (auto s = WriteFileAtomically(dir + "/ca.pem", ca_pem, 0644); !s.ok()) return s;
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
      CertSpec spec{nullptr, cn, {}, key, issuer, issuer_key, nb, na, true, false};
      spec.organization = "mxcensus lab";
      auto c = MakeCert(spec);
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
      if (auto s = WriteFileAtomically(pki_dir + "/" + it.key_file, KeyPem(it.key->get()), 0600);
          !s.ok()) {
        return s;
      }
      if (it.cert_file != nullptr) {
        if (auto s =
                WriteFileAtomically(pki_dir + "/" + it.cert_file, CertPem(it.cert->get()), 0644);
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
  return WriteFileAtomically(cache, out, 0644);
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
