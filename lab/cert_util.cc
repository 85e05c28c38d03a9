#include "lab/cert_util.h"

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

namespace mxcensus::lab {
namespace {

using BnPtr = std::unique_ptr<BIGNUM, FnDeleter<BN_free>>;

}  // namespace

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

}  // namespace mxcensus::lab
