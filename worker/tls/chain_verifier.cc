#include "worker/tls/chain_verifier.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "worker/tls/client_context.h"
#include "worker/tls/session_facts.h"

namespace mxcensus::tls {

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
  return std::shared_ptr<ChainVerifier>(new ChainVerifier(std::move(store), options.max_entries));
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
