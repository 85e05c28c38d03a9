#pragma once

#include <openssl/x509.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mxcensus::tls {

// Fast ECDSA checks of certificate signatures made by issuers seen often (P-256, P-384, P-521).
//
// Verifying a chain never seen before costs one ECDSA verification of the leaf by its issuer,
// R = u1*G + u2*Q with Q the issuer's key. OpenSSL keeps a table of multiples of P-256's
// generator G (of no other curve's), and computes u2*Q from scratch every time: most of the
// verification (PERFORMANCE.md; docs/probe-bench.md). Leaves differ from host to host while their
// issuers repeat (a handful of CAs sign most MX certificates), so once an issuer key has signed
// `warmup` certificates, this class builds the same kind of table for Q with OpenSSL's own code (a
// copy of the curve whose generator is Q, EC_GROUP_precompute_mult; on P-384 and P-521 one for G as
// well) and both halves become lookups.
//
// Only a positive answer is trusted: `Verify` returns true when the signature is shown valid by
// a table; false means "not shown" (no table yet, another key type or curve, a signature form
// OpenSSL would reject, or a bad signature), and the caller then asks X509_verify, whose
// answer stands. Thread-safe; tables are shared by all loop threads.
class IssuerTables {
 public:
  struct Options {
    // Certificates an issuer signs before its table is built; 0: per curve, what the table
    // costs over what it saves per use (512 on P-256, 8 on P-384 and P-521).
    uint32_t warmup = 0;
    size_t max_tables = 32;  // ~150 KB each on P-256, ~100 KB on P-384
  };
  explicit IssuerTables(Options options);
  ~IssuerTables();
  IssuerTables(const IssuerTables&) = delete;
  IssuerTables& operator=(const IssuerTables&) = delete;

  // Whether `subject`'s signature (its DER given as `subject_der`) verifies under `issuer`'s
  // public key through a precomputed table. Counts the use of `issuer`'s key towards its table.
  bool Verify(X509* subject, std::string_view subject_der, X509* issuer);

  size_t tables() const;
  uint64_t verified() const { return verified_.load(std::memory_order_relaxed); }

 private:
  struct Table;
  std::shared_ptr<const Table> Lookup(X509* issuer);

  Options options_;
  mutable std::mutex mu_;
  // Per issuer key (curve and encoded point): uses so far and, once warm, its table.
  struct Entry {
    uint32_t uses = 0;
    bool building = false;
    std::shared_ptr<const Table> table;
  };
  std::unordered_map<std::string, Entry> entries_;  // GUARDED_BY(mu_)
  size_t built_ = 0;                                // GUARDED_BY(mu_)
  std::atomic<uint64_t> verified_{0};
};

}  // namespace mxcensus::tls
