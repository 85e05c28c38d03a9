#include "worker/tls/issuer_tables.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>

#include <array>
#include <cstring>

#include "common/fn_deleter.h"

namespace mxcensus::tls {
namespace {

using BnCtxPtr = std::unique_ptr<BN_CTX, FnDeleter<BN_CTX_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, FnDeleter<BN_free>>;
using EcGroupPtr = std::unique_ptr<EC_GROUP, FnDeleter<EC_GROUP_free>>;
using EcPointPtr = std::unique_ptr<EC_POINT, FnDeleter<EC_POINT_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, FnDeleter<ECDSA_SIG_free>>;

// Entries counted but never warm are forgotten past this many, so that a crawl of millions of
// distinct issuers (self-signed leaves are their own issuers) cannot grow the map without end.
constexpr size_t kMaxCountedIssuers = 4096;

// The NIST curves CAs sign with. P-256 runs on OpenSSL's nistz256 code, whose lone-scalar
// multiplication uses a generator's table; P-384 and P-521 run on the generic code, which takes
// a table only in a two-point multiplication (a lone scalar goes to its constant-time ladder).
bool TableCurve(int nid) {
  return nid == NID_X9_62_prime256v1 || nid == NID_secp384r1 || nid == NID_secp521r1;
}

// Uses an issuer must reach before its table is built, where Options::warmup is 0: the table's
// cost over what it saves per use (ski rental). P-256: 282 M instructions to build, 0.50 M saved
// per check (0.87 M -> 0.37 M). P-384: 2 x 16 M (this curve's generator has no built-in table
// either), 5.5 M saved per check (9.0 M -> 3.5 M).
uint32_t DefaultWarmup(int nid) { return nid == NID_X9_62_prime256v1 ? 512 : 8; }

// The issuer's curve and encoded point, straight from its SubjectPublicKeyInfo (no key
// decoding); empty when it is not an EC key on a named curve this class handles.
std::string IssuerKey(X509* issuer, int* curve_nid) {
  const ASN1_OBJECT* alg = nullptr;
  const unsigned char* point = nullptr;
  int point_len = 0;
  X509_ALGOR* params = nullptr;
  if (X509_PUBKEY_get0_param(nullptr, &point, &point_len, &params, X509_get_X509_PUBKEY(issuer)) !=
          1 ||
      params == nullptr || point_len <= 0) {
    return {};
  }
  int ptype = 0;
  const void* pval = nullptr;
  X509_ALGOR_get0(&alg, &ptype, &pval, params);
  if (OBJ_obj2nid(alg) != NID_X9_62_id_ecPublicKey || ptype != V_ASN1_OBJECT) return {};
  int nid = OBJ_obj2nid(static_cast<const ASN1_OBJECT*>(pval));
  if (!TableCurve(nid)) return {};
  *curve_nid = nid;
  std::string key(reinterpret_cast<const char*>(&nid), sizeof nid);
  key.append(reinterpret_cast<const char*>(point), static_cast<size_t>(point_len));
  return key;
}

// The DER of the first element inside the outer SEQUENCE: a certificate's TBSCertificate,
// exactly the bytes its signature covers.
std::string_view FirstElement(std::string_view der) {
  auto header = [](std::string_view in, size_t* len) -> size_t {
    if (in.size() < 2 || static_cast<unsigned char>(in[0]) != 0x30) return 0;
    unsigned char b = static_cast<unsigned char>(in[1]);
    if (b < 0x80) {
      *len = b;
      return 2;
    }
    size_t n = b & 0x7f;
    if (n == 0 || n > 4 || in.size() < 2 + n) return 0;
    size_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(in[2 + i]);
    *len = v;
    return 2 + n;
  };
  size_t outer_len = 0;
  size_t outer = header(der, &outer_len);
  if (outer == 0 || outer + outer_len != der.size()) return {};
  std::string_view inner = der.substr(outer);
  size_t tbs_len = 0;
  size_t tbs = header(inner, &tbs_len);
  if (tbs == 0 || tbs + tbs_len > inner.size()) return {};
  return inner.substr(0, tbs + tbs_len);
}

const EVP_MD* EcdsaDigest(int sig_nid) {
  switch (sig_nid) {
    case NID_ecdsa_with_SHA256:
      return EVP_sha256();
    case NID_ecdsa_with_SHA384:
      return EVP_sha384();
    case NID_ecdsa_with_SHA512:
      return EVP_sha512();
    case NID_ecdsa_with_SHA224:
      return EVP_sha224();
    default:
      return nullptr;
  }
}

// OpenSSL 3.0 deprecates the table call for users of EC_KEY-free code paths, yet it is the only
// way to build the nistz256 table for a generator of our choosing, and 3.x still implements it.
bool PrecomputeMultiples(EC_GROUP* group, BN_CTX* ctx) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  return EC_GROUP_precompute_mult(group, ctx) == 1;
#pragma GCC diagnostic pop
}

// Inversion modulo a 256-bit odd order (w = s^-1 mod n) by the binary extended Euclidean
// algorithm on 4 x 64-bit limbs: ~57 K instructions where BN_mod_inverse takes ~155 K (and
// BN_mod_exp_mont ~170 K), a third of a table-based check. Variable time is fine: everything
// here is public. A wrong result could only make a good signature fail the final comparison
// (never the reverse), and Verify checks s * w = 1 anyway.
class OrderInverse {
 public:
  using Limbs = std::array<uint64_t, 4>;  // little-endian

  // False unless `order` is odd and at most 256 bits.
  bool Init(const BIGNUM* order) { return BN_is_odd(order) && ToLimbs(order, &n_); }

  // w = s^-1 mod n for 0 < s < n.
  bool Invert(const BIGNUM* s, BIGNUM* w) const {
    Limbs u;
    if (!ToLimbs(s, &u) || IsZero(u)) return false;
    // Invariants: x1 * s = u and x2 * s = v (mod n); u and v shrink until one of them is 1.
    Limbs v = n_, x1{1, 0, 0, 0}, x2{0, 0, 0, 0};
    while (!IsOne(u) && !IsOne(v)) {
      while ((u[0] & 1) == 0) {
        ShiftRight(&u, 0);
        Halve(&x1);
      }
      while ((v[0] & 1) == 0) {
        ShiftRight(&v, 0);
        Halve(&x2);
      }
      if (AtLeast(u, v)) {
        Subtract(&u, v);
        if (Subtract(&x1, x2)) Add(&x1, n_);
      } else {
        Subtract(&v, u);
        if (Subtract(&x2, x1)) Add(&x2, n_);
      }
    }
    const Limbs& x = IsOne(u) ? x1 : x2;
    unsigned char le[32];
    for (int i = 0; i < 32; ++i) le[i] = static_cast<unsigned char>(x[i / 8] >> (8 * (i % 8)));
    return BN_lebin2bn(le, sizeof le, w) != nullptr;
  }

 private:
  static bool ToLimbs(const BIGNUM* v, Limbs* out) {
    unsigned char le[32];
    if (BN_is_negative(v) || BN_bn2lebinpad(v, le, sizeof le) != sizeof le) return false;
    for (int i = 0; i < 4; ++i) {
      uint64_t limb = 0;
      for (int b = 7; b >= 0; --b) limb = (limb << 8) | le[8 * i + b];
      (*out)[i] = limb;
    }
    return true;
  }
  static bool IsZero(const Limbs& a) { return (a[0] | a[1] | a[2] | a[3]) == 0; }
  static bool IsOne(const Limbs& a) { return a[0] == 1 && (a[1] | a[2] | a[3]) == 0; }
  static bool AtLeast(const Limbs& a, const Limbs& b) {
    for (int i = 3; i >= 0; --i) {
      if (a[i] != b[i]) return a[i] > b[i];
    }
    return true;
  }
  static void ShiftRight(Limbs* a, uint64_t top_bit) {
    for (int i = 0; i < 3; ++i) (*a)[i] = ((*a)[i] >> 1) | ((*a)[i + 1] << 63);
    (*a)[3] = ((*a)[3] >> 1) | (top_bit << 63);
  }
  static uint64_t Add(Limbs* a, const Limbs& b) {
    unsigned long long carry = 0;
    for (int i = 0; i < 4; ++i) {
      unsigned long long sum;
      carry = __builtin_uaddll_overflow((*a)[i], b[i], &sum) |
              __builtin_uaddll_overflow(sum, carry, &sum);
      (*a)[i] = sum;
    }
    return carry;
  }
  static uint64_t Subtract(Limbs* a, const Limbs& b) {
    unsigned long long borrow = 0;
    for (int i = 0; i < 4; ++i) {
      unsigned long long diff;
      borrow = __builtin_usubll_overflow((*a)[i], b[i], &diff) |
               __builtin_usubll_overflow(diff, borrow, &diff);
      (*a)[i] = diff;
    }
    return borrow;
  }
  // x / 2 mod n: x + n is even when x is odd, and < 2^257 (the carry is the top bit).
  void Halve(Limbs* x) const {
    uint64_t carry = ((*x)[0] & 1) ? Add(x, n_) : 0;
    ShiftRight(x, carry);
  }

  Limbs n_{};
};

// k * G + scalars[0] * points[0]. Deprecated in 3.0 like the call above, and the only public way
// into the generic code's table path.
bool MulWithPoints(const EC_GROUP* group, EC_POINT* out, const BIGNUM* k, const EC_POINT* points[1],
                   const BIGNUM* scalars[1], BN_CTX* ctx) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  return EC_POINTs_mul(group, out, k, 1, points, scalars, ctx) == 1;
#pragma GCC diagnostic pop
}

BN_CTX* ThreadBnCtx() {
  thread_local BnCtxPtr ctx(BN_CTX_new());
  return ctx.get();
}

}  // namespace

struct IssuerTables::Table {
  // The curve, with a table of multiples of its generator G: OpenSSL's built-in one on P-256,
  // one built here on the others.
  EcGroupPtr curve;
  EcGroupPtr by_issuer;  // the same curve with the issuer's Q as generator, and its table
  bool nistz256 = false;
  OrderInverse inverse;  // P-256 only (256-bit orders); BN_mod_inverse elsewhere

  // k * (the group's generator) through its table.
  bool MulGenerator(const EC_GROUP* group, EC_POINT* out, const BIGNUM* k, BN_CTX* ctx) const {
    if (nistz256) return EC_POINT_mul(group, out, k, nullptr, nullptr, ctx) == 1;
    // The generic code's table path: a two-point multiplication, the other term 0 * G.
    BIGNUM* zero = BN_CTX_get(ctx);
    if (zero == nullptr) return false;
    BN_zero(zero);
    const EC_POINT* points[1] = {EC_GROUP_get0_generator(curve.get())};
    const BIGNUM* scalars[1] = {zero};
    return MulWithPoints(group, out, k, points, scalars, ctx);
  }
  bool Invert(const BIGNUM* s, BIGNUM* w, BN_CTX* ctx) const {
    if (nistz256) return inverse.Invert(s, w);
    return BN_mod_inverse(w, s, EC_GROUP_get0_order(curve.get()), ctx) != nullptr;
  }
};

IssuerTables::IssuerTables(Options options) : options_(options) {}
IssuerTables::~IssuerTables() = default;

size_t IssuerTables::tables() const {
  std::lock_guard<std::mutex> lock(mu_);
  return built_;
}

std::shared_ptr<const IssuerTables::Table> IssuerTables::Lookup(X509* issuer) {
  int nid = 0;
  std::string key = IssuerKey(issuer, &nid);
  if (key.empty()) return nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      if (entries_.size() >= kMaxCountedIssuers) {
        std::erase_if(entries_, [](const auto& kv) { return !kv.second.table; });
      }
      it = entries_.emplace(key, Entry{}).first;
    }
    Entry& e = it->second;
    if (e.table) return e.table;
    uint32_t warmup = options_.warmup > 0 ? options_.warmup : DefaultWarmup(nid);
    if (++e.uses < warmup || e.building || built_ >= options_.max_tables) return nullptr;
    e.building = true;
  }
  // Built outside the lock: a table takes a few milliseconds, other verifications go on.
  auto table = std::make_shared<Table>();
  BN_CTX* ctx = ThreadBnCtx();
  bool ok = false;
  table->nistz256 = nid == NID_X9_62_prime256v1;
  table->curve.reset(EC_GROUP_new_by_curve_name(nid));
  if (table->curve) {
    table->by_issuer.reset(EC_GROUP_dup(table->curve.get()));
  }
  if (table->by_issuer && ctx != nullptr &&
      (table->nistz256 ? table->inverse.Init(EC_GROUP_get0_order(table->curve.get()))
                       : PrecomputeMultiples(table->curve.get(), ctx))) {
    // The key is the curve's NID followed by the encoded point (IssuerKey).
    std::string_view point = std::string_view(key).substr(sizeof nid);
    EcPointPtr q(EC_POINT_new(table->by_issuer.get()));
    ok = q &&
         EC_POINT_oct2point(table->by_issuer.get(), q.get(),
                            reinterpret_cast<const unsigned char*>(point.data()), point.size(),
                            ctx) == 1 &&
         EC_POINT_is_on_curve(table->by_issuer.get(), q.get(), ctx) == 1 &&
         !EC_POINT_is_at_infinity(table->by_issuer.get(), q.get()) &&
         EC_GROUP_set_generator(table->by_issuer.get(), q.get(),
                                EC_GROUP_get0_order(table->curve.get()),
                                EC_GROUP_get0_cofactor(table->curve.get())) == 1 &&
         PrecomputeMultiples(table->by_issuer.get(), ctx);
  }
  ERR_clear_error();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;  // forgotten meanwhile; counted again later
  it->second.building = false;
  if (!ok) return nullptr;
  it->second.table = std::move(table);
  ++built_;
  return it->second.table;
}

bool IssuerTables::Verify(X509* subject, std::string_view subject_der, X509* issuer) {
  // The forms X509_verify itself refuses are left to it, so that "true" never disagrees.
  const ASN1_BIT_STRING* sig = nullptr;
  const X509_ALGOR* outer_alg = nullptr;
  X509_get0_signature(&sig, &outer_alg, subject);
  if (sig == nullptr || (sig->flags & 0x7) != 0 ||
      X509_ALGOR_cmp(outer_alg, X509_get0_tbs_sigalg(subject)) != 0) {
    return false;
  }
  const EVP_MD* md = EcdsaDigest(X509_get_signature_nid(subject));
  std::string_view tbs = FirstElement(subject_der);
  if (md == nullptr || tbs.empty()) return false;
  std::shared_ptr<const Table> table = Lookup(issuer);
  if (!table) return false;

  // ECDSA-Sig-Value in strict DER, as OpenSSL's verifier demands.
  const unsigned char* p = sig->data;
  EcdsaSigPtr es(d2i_ECDSA_SIG(nullptr, &p, sig->length));
  if (!es) return false;
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(es.get(), &der);
  bool strict = der_len == sig->length && std::memcmp(der, sig->data, der_len) == 0;
  OPENSSL_free(der);
  if (!strict) return false;

  const EC_GROUP* curve = table->curve.get();
  const BIGNUM* order = EC_GROUP_get0_order(curve);
  const BIGNUM* r = ECDSA_SIG_get0_r(es.get());
  const BIGNUM* s = ECDSA_SIG_get0_s(es.get());
  if (BN_is_zero(r) || BN_is_negative(r) || BN_ucmp(r, order) >= 0 || BN_is_zero(s) ||
      BN_is_negative(s) || BN_ucmp(s, order) >= 0) {
    return false;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(tbs.data(), tbs.size(), digest, &digest_len, md, nullptr) != 1) return false;

  BN_CTX* ctx = ThreadBnCtx();
  if (ctx == nullptr) return false;
  BN_CTX_start(ctx);
  BIGNUM* w = BN_CTX_get(ctx);
  BIGNUM* m = BN_CTX_get(ctx);
  BIGNUM* u1 = BN_CTX_get(ctx);
  BIGNUM* u2 = BN_CTX_get(ctx);
  BIGNUM* x = BN_CTX_get(ctx);
  EcPointPtr by_g(EC_POINT_new(curve));
  EcPointPtr by_q(EC_POINT_new(table->by_issuer.get()));
  // e = the digest's leftmost bits, as many as the order has (SEC 1, 4.1.4).
  int order_bits = BN_num_bits(order);
  size_t e_len = digest_len;
  if (8 * e_len > static_cast<size_t>(order_bits)) e_len = (order_bits + 7) / 8;
  bool ok = x != nullptr && by_g && by_q && table->Invert(s, w, ctx) &&
            BN_mod_mul(m, s, w, order, ctx) == 1 && BN_is_one(m) &&
            BN_bin2bn(digest, static_cast<int>(e_len), m) != nullptr &&
            (8 * e_len <= static_cast<size_t>(order_bits) ||
             BN_rshift(m, m, 8 - (order_bits & 7)) == 1) &&
            BN_mod_mul(u1, m, w, order, ctx) == 1 && BN_mod_mul(u2, r, w, order, ctx) == 1 &&
            // u1*G and u2*Q, each from its table, then their sum.
            table->MulGenerator(curve, by_g.get(), u1, ctx) &&
            table->MulGenerator(table->by_issuer.get(), by_q.get(), u2, ctx) &&
            EC_POINT_add(curve, by_g.get(), by_g.get(), by_q.get(), ctx) == 1 &&
            !EC_POINT_is_at_infinity(curve, by_g.get()) &&
            EC_POINT_get_affine_coordinates(curve, by_g.get(), x, nullptr, ctx) == 1 &&
            BN_nnmod(x, x, order, ctx) == 1 && BN_ucmp(x, r) == 0;
  BN_CTX_end(ctx);
  ERR_clear_error();
  if (ok) verified_.fetch_add(1, std::memory_order_relaxed);
  return ok;
}

}  // namespace mxcensus::tls
