#include "worker/tls/chain_verifier.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "worker/tls/client_context.h"
#include "worker/tls/session_facts.h"

namespace mxcensus::tls {
namespace {

// What VerifyWithLeafTable needs from ChainVerifier::Verify, passed as the context's app data.
struct LeafJob {
  X509_STORE_CTX_verify_fn openssl_verify;  // OpenSSL's own signature-and-times pass
  IssuerTables* tables;
  std::string_view leaf_der;
};

// Reports `err` for `cert` at `depth` the way OpenSSL's verifier does, so that the verify
// callback and the recorded error are the same as without the tables.
int Fail(X509_STORE_CTX* ctx, X509* cert, int depth, int err) {
  X509_STORE_CTX_set_error_depth(ctx, depth);
  X509_STORE_CTX_set_current_cert(ctx, cert);
  X509_STORE_CTX_set_error(ctx, err);
  return X509_STORE_CTX_get_verify_cb(ctx)(0, ctx);
}

// RFC 5280 6.1.4 (n): a CA key whose key usage forbids certificate signing signs nothing.
int SigningAllowed(X509* issuer, X509* subject) {
  auto rejects = [issuer](uint32_t usage) {
    return (X509_get_extension_flags(issuer) & EXFLAG_KUSAGE) != 0 &&
           (X509_get_key_usage(issuer) & usage) == 0;
  };
  if ((X509_get_extension_flags(subject) & EXFLAG_PROXY) != 0) {
    if (rejects(KU_DIGITAL_SIGNATURE)) return X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE;
  } else if (rejects(KU_KEY_CERT_SIGN)) {
    return X509_V_ERR_KEYUSAGE_NO_CERTSIGN;
  }
  return X509_V_OK;
}

// The validity period at the verification time, with OpenSSL 3.0's error codes and order.
int CheckTimes(X509_STORE_CTX* ctx, X509* cert, int depth) {
  const X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
  unsigned long flags = X509_VERIFY_PARAM_get_flags(const_cast<X509_VERIFY_PARAM*>(param));
  time_t at = 0;
  time_t* when = nullptr;
  if ((flags & X509_V_FLAG_USE_CHECK_TIME) != 0) {
    at = X509_VERIFY_PARAM_get_time(param);
    when = &at;
  } else if ((flags & X509_V_FLAG_NO_CHECK_TIME) != 0) {
    return 1;
  }
  int i = X509_cmp_time(X509_get0_notBefore(cert), when);
  if (i == 0 && !Fail(ctx, cert, depth, X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD)) return 0;
  if (i > 0 && !Fail(ctx, cert, depth, X509_V_ERR_CERT_NOT_YET_VALID)) return 0;
  i = X509_cmp_time(X509_get0_notAfter(cert), when);
  if (i == 0 && !Fail(ctx, cert, depth, X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD)) return 0;
  if (i < 0 && !Fail(ctx, cert, depth, X509_V_ERR_CERT_HAS_EXPIRED)) return 0;
  return 1;
}

// Replaces OpenSSL's pass over the built chain (signatures and validity times, top down) when
// the leaf's issuer has a precomputed table: the leaf's signature is checked through the table,
// OpenSSL's own pass runs over the rest of the chain (the leaf taken off for it), and the
// leaf's remaining steps follow in OpenSSL's order. Whenever the table cannot show the leaf's
// signature valid, OpenSSL's pass runs over the whole chain as usual and its verdict stands.
int VerifyWithLeafTable(X509_STORE_CTX* ctx) {
  auto* job = static_cast<LeafJob*>(X509_STORE_CTX_get_app_data(ctx));
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx);
  int n = sk_X509_num(chain);
  if (n < 2) return job->openssl_verify(ctx);
  X509* leaf = sk_X509_value(chain, 0);
  X509* issuer = sk_X509_value(chain, 1);
  // Without the leaf, OpenSSL's pass must see the chain shape it saw with it: a top certificate
  // that is self-signed, or more than one certificate left.
  bool same_shape = n >= 3 || (X509_get_extension_flags(issuer) & EXFLAG_SS) != 0;
  if (!same_shape || !job->tables->Verify(leaf, job->leaf_der, issuer)) {
    return job->openssl_verify(ctx);
  }
  (void)sk_X509_shift(chain);
  int ok = job->openssl_verify(ctx);
  if (sk_X509_unshift(chain, leaf) <= 0) {
    X509_STORE_CTX_set_error(ctx, X509_V_ERR_OUT_OF_MEM);
    return -1;
  }
  if (ok <= 0) return ok;
  // The leaf at depth 0, its issuer at depth 1, as OpenSSL's pass would have taken them.
  int allowed = SigningAllowed(issuer, leaf);
  if (allowed != X509_V_OK && !Fail(ctx, issuer, 1, allowed)) return 0;
  if (X509_get0_pubkey(issuer) == nullptr &&
      !Fail(ctx, issuer, 1, X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY)) {
    return 0;
  }
  if (!CheckTimes(ctx, leaf, 0)) return 0;
  X509_STORE_CTX_set_current_cert(ctx, leaf);
  X509_STORE_CTX_set_error_depth(ctx, 0);
  return X509_STORE_CTX_get_verify_cb(ctx)(1, ctx);
}

}  // namespace

absl::StatusOr<std::shared_ptr<ChainVerifier>> ChainVerifier::Create(const Options& options) {
  X509StorePtr store(X509_STORE_new());
  if (!store) return absl::ResourceExhaustedError("X509_STORE_new failed");
  if (options.system_store && X509_STORE_set_default_paths(store.get()) != 1) {
    return absl::InternalError("loading the system trust store: " + DrainErrors());
  }
  if (!options.ca_file.empty() && X509_STORE_load_file(store.get(), options.ca_file.c_str()) != 1) {
    return absl::InvalidArgumentError("--ca-file " + options.ca_file + ": " + DrainErrors());
  }
  if (!options.ca_pem.empty()) {
    BioPtr bio(BIO_new_mem_buf(options.ca_pem.data(), static_cast<int>(options.ca_pem.size())));
    int added = 0;
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store.get(), cert);
      X509_free(cert);
      ++added;
    }
    if (added == 0) return absl::InvalidArgumentError("no certificate in the CA PEM text");
  }
  ERR_clear_error();
  return std::shared_ptr<ChainVerifier>(new ChainVerifier(std::move(store), options));
}

ChainVerifier::ChainVerifier(X509StorePtr store, const Options& options)
    : store_(std::move(store)), max_entries_(options.max_entries) {
  if (options.max_issuer_tables > 0) {
    tables_ = std::make_unique<IssuerTables>(
        IssuerTables::Options{options.issuer_table_warmup, options.max_issuer_tables});
  }
}

void ChainVerifier::Fill(SSL* ssl, const std::string& mx_name, TlsFacts* facts) {
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);  // borrowed; leaf first on a client
  X509* leaf = SSL_get0_peer_certificate(ssl);           // borrowed
  if (!leaf || !chain) return;
  facts->chain_der.clear();
  for (int i = 0; i < sk_X509_num(chain); ++i) {
    unsigned char* der = nullptr;
    int len = i2d_X509(sk_X509_value(chain, i), &der);
    if (len <= 0) continue;
    facts->chain_der.emplace_back(reinterpret_cast<char*>(der), static_cast<size_t>(len));
    OPENSSL_free(der);
  }
  std::shared_ptr<const Verdict> verdict;
  // The key: SHA-256 over the length-prefixed DER of every certificate, in order.
  Sha256 hash;
  for (const auto& der : facts->chain_der) {
    hash.Update(std::to_string(der.size()));
    hash.Update(":");
    hash.Update(der);
  }
  std::string key = hash.HexDigest();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = cache_.find(key); it != cache_.end()) {
      verdict = it->second;
      ++hits_;
    }
  }
  if (!verdict) {
    // The leaf's DER, already encoded above, spares encoding it again for its fingerprint.
    bool leaf_first = facts->chain_der.size() == static_cast<size_t>(sk_X509_num(chain)) &&
                      sk_X509_value(chain, 0) == leaf;
    verdict = Verify(leaf, chain, leaf_first ? facts->chain_der[0] : std::string_view());
    std::lock_guard<std::mutex> lock(mu_);
    ++misses_;
    if (cache_.size() >= max_entries_) cache_.clear();
    cache_.emplace(key, verdict);
  }
  facts->leaf = verdict->leaf;
  facts->chain_valid = verdict->valid;
  facts->verify_error = verdict->error;
  std::string host = mx_name;
  if (!host.empty() && host.back() == '.') host.pop_back();
  facts->name_match =
      !host.empty() && X509_check_host(leaf, host.data(), host.size(), 0, nullptr) == 1;
}

std::shared_ptr<const ChainVerifier::Verdict> ChainVerifier::Verify(X509* leaf,
                                                                    STACK_OF(X509) * chain,
                                                                    std::string_view leaf_der) {
  auto v = std::make_shared<Verdict>();
  v->leaf = SummarizeCertificate(leaf, leaf_der);
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store_.get(), leaf, chain) != 1) {
    v->error = "verification could not run: " + DrainErrors();
    return v;
  }
  // The same checks as a TLS client verifying a server (purpose sslserver).
  X509_STORE_CTX_set_default(ctx.get(), "ssl_server");
  LeafJob job{X509_STORE_CTX_get_verify(ctx.get()), tables_.get(), leaf_der};
  if (job.openssl_verify != nullptr && job.tables != nullptr && !leaf_der.empty()) {
    X509_STORE_CTX_set_app_data(ctx.get(), &job);
    X509_STORE_CTX_set_verify(ctx.get(), VerifyWithLeafTable);
  }
  int rc = X509_verify_cert(ctx.get());
  int err = X509_STORE_CTX_get_error(ctx.get());
  v->valid = rc == 1 && err == X509_V_OK;
  if (!v->valid) {
    v->error = X509_verify_cert_error_string(err == X509_V_OK ? X509_V_ERR_UNSPECIFIED : err);
  }
  ERR_clear_error();
  return v;
}

}  // namespace mxcensus::tls
