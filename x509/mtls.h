#pragma once

// The certificate set for mutual TLS between workers and the coordinator (`certs init`).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mxcensus::x509 {

struct MtlsOptions {
  int workers = 1;  // worker client certificates worker-1 .. worker-N
  // Names the coordinator is reached by (DNS names or IP literals); localhost and 127.0.0.1
  // are always added so that a local admin client and health checks verify too.
  std::vector<std::string> coordinator_names;
  int days = 825;      // validity of the coordinator and client certificates
  int ca_days = 3650;  // validity of the CA
  int64_t now = 0;     // Unix time the validity windows start from
};

// One file of the set: its name inside the output directory, its PEM text and its mode.
struct PemFile {
  std::string name;
  std::string pem;
  unsigned mode = 0644;
};

// A fresh ECDSA P-256 CA (ca.pem, ca.key), a coordinator server certificate
// (coordinator.pem/.key, serverAuth, SANs = the names), an admin client certificate for `crawl`
// commands (admin.pem/.key) and one client certificate per worker (worker-N.pem/.key,
// clientAuth). Keys are mode 0600. Nothing is written.
absl::StatusOr<std::vector<PemFile>> MakeMtlsSet(const MtlsOptions& options);

// Writes `files` into `dir` (created when missing). Refuses, before writing anything, when one
// of them exists and `force` is false; the error names the file.
absl::Status WritePemFiles(const std::string& dir, const std::vector<PemFile>& files, bool force);

}  // namespace mxcensus::x509
