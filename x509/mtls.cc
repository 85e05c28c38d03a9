#include "x509/mtls.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "x509/x509.h"

namespace mxcensus::x509 {
namespace {

constexpr int64_t kDay = 86400;
// A clock a few minutes off on a worker must not make a fresh certificate "not yet valid".
constexpr int64_t kBackdate = 3600;

struct Issued {
  EvpPkeyPtr key;
  X509Ptr cert;
};

absl::StatusOr<Issued> Issue(CertSpec spec) {
  auto key = NewEcKey();
  if (!key.ok()) return key.status();
  spec.key = key->get();
  if (spec.issuer == nullptr) spec.issuer_key = spec.key;
  auto cert = MakeCert(spec);
  if (!cert.ok()) return cert.status();
  return Issued{*std::move(key), *std::move(cert)};
}

void Add(std::vector<PemFile>& out, const std::string& stem, const Issued& i) {
  out.push_back({stem + ".pem", CertPem(i.cert.get()), 0644});
  out.push_back({stem + ".key", KeyPem(i.key.get()), 0600});
}

}  // namespace

absl::StatusOr<std::vector<PemFile>> MakeMtlsSet(const MtlsOptions& o) {
  if (o.workers < 0 || o.workers > 10000) {
    return absl::InvalidArgumentError(absl::StrCat("--workers ", o.workers, ": want 0..10000"));
  }
  if (o.days < 1 || o.ca_days < o.days) {
    return absl::InvalidArgumentError("--days: want at least 1 and no more than the CA's days");
  }
  std::vector<PemFile> out;
  CertSpec ca;
  ca.subject_cn = "mxcensus mTLS CA";
  ca.organization = "mxcensus";
  ca.ca = true;
  ca.not_before = o.now - kBackdate;
  ca.not_after = o.now + o.ca_days * kDay;
  auto root = Issue(ca);
  if (!root.ok()) return root.status();
  Add(out, "ca", *root);

  auto leaf = [&](std::string cn, std::vector<std::string> sans, Purpose purpose) {
    CertSpec s;
    s.subject_cn = std::move(cn);
    s.sans = std::move(sans);
    s.organization = "mxcensus";
    s.issuer = root->cert.get();
    s.issuer_key = root->key.get();
    s.not_before = o.now - kBackdate;
    s.not_after = o.now + o.days * kDay;
    s.purpose = purpose;
    return Issue(s);
  };
  std::vector<std::string> names;
  for (const auto& n : o.coordinator_names) {
    if (n.empty() || n.find_first_of(", \t\r\n") != std::string::npos) {
      return absl::InvalidArgumentError("--coordinator-name '" + n +
                                        "': want one DNS name or IP address");
    }
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  for (const char* local : {"localhost", "127.0.0.1", "::1"}) {
    if (std::find(names.begin(), names.end(), local) == names.end()) names.push_back(local);
  }
  auto coord = leaf(names.front(), names, Purpose::kServer);
  if (!coord.ok()) return coord.status();
  Add(out, "coordinator", *coord);
  auto admin = leaf("mxcensus admin", {"admin"}, Purpose::kClient);
  if (!admin.ok()) return admin.status();
  Add(out, "admin", *admin);
  for (int i = 1; i <= o.workers; ++i) {
    std::string name = absl::StrCat("worker-", i);
    auto w = leaf(name, {name}, Purpose::kClient);
    if (!w.ok()) return w.status();
    Add(out, name, *w);
  }
  return out;
}

absl::Status WritePemFiles(const std::string& dir, const std::vector<PemFile>& files, bool force) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InvalidArgumentError(dir + ": cannot create directory: " + ec.message());
  if (!force) {
    for (const auto& f : files) {
      const std::string path = (fs::path(dir) / f.name).string();
      if (fs::exists(fs::symlink_status(path, ec))) {
        return absl::AlreadyExistsError(path + " exists; not overwriting (use --force)");
      }
    }
  }
  for (const auto& f : files) {
    if (auto s = WriteFileAtomically((fs::path(dir) / f.name).string(), f.pem, f.mode); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace mxcensus::x509
