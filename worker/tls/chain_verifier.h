#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "common/probe_result.h"
#include "worker/tls/issuer_tables.h"
#include "worker/tls/ssl_ptr.h"

namespace mxcensus::tls {

// Verifies peer chains outside the handshake and remembers each distinct chain's verdict.
// Certificates repeat heavily across MX hosts (one provider, one chain), so verifying once per
// chain and reusing the verdict costs far less than letting OpenSSL verify inside every
// handshake (PERFORMANCE.md). Thread-safe: one instance may be shared by all loop threads (the
// lock covers only the map; verification itself runs outside it).
class ChainVerifier {
 public:
  struct Options {
    bool system_store = true;  // the system's trust store (/etc/ssl/certs)
    std::string ca_file;       // extra trusted CAs (PEM), e.g. the lab CA
    std::string ca_pem;        // extra trusted CAs given as PEM text (tests)
    size_t max_entries = 200000;
    // Precomputed tables for ECDSA issuers seen often (issuer_tables.h); max 0 turns them off.
    uint32_t issuer_table_warmup = 0;  // 0: per curve (IssuerTables::Options)
    size_t max_issuer_tables = 32;
  };
  static absl::StatusOr<std::shared_ptr<ChainVerifier>> Create(const Options& options);

  // Fills chain_der, leaf, chain_valid, verify_error and name_match of `*facts` from the peer
  // chain of `ssl` (no-op without a peer certificate). `mx_name` is the name checked against
  // the leaf (X509_check_host), independently of chain validity.
  void Fill(SSL* ssl, const std::string& mx_name, TlsFacts* facts);

  uint64_t cache_hits() const { return hits_; }
  uint64_t cache_misses() const { return misses_; }
  // Leaf signatures shown valid by an issuer table instead of X509_verify.
  uint64_t table_verifications() const { return tables_ ? tables_->verified() : 0; }

 private:
  struct Verdict {
    bool valid = false;
    std::optional<std::string> error;
    CertSummary leaf;
  };
  ChainVerifier(X509StorePtr store, const Options& options);
  std::shared_ptr<const Verdict> Verify(X509* leaf, STACK_OF(X509) * chain,
                                        std::string_view leaf_der);

  X509StorePtr store_;
  size_t max_entries_;
  std::unique_ptr<IssuerTables> tables_;  // null when off
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const Verdict>> cache_;  // GUARDED_BY(mu_)
  uint64_t hits_ = 0;                                                      // GUARDED_BY(mu_)
  uint64_t misses_ = 0;                                                    // GUARDED_BY(mu_)
};

}  // namespace mxcensus::tls
