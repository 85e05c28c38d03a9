// mxcensus certs init: CA and certificates for mutual TLS between workers and coordinator, so
// that an operator needs no openssl commands.
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "cli/command.h"
#include "x509/mtls.h"

namespace mxcensus::cli {
namespace {

struct CertsFlags {
  std::string dir;
  x509::MtlsOptions mtls;
  bool force = false;
};

int Run(CertsFlags f) {
  f.mtls.now = static_cast<int64_t>(std::time(nullptr));
  auto files = x509::MakeMtlsSet(f.mtls);
  if (!files.ok()) return Fail(files.status());
  if (auto s = x509::WritePemFiles(f.dir, *files, f.force); !s.ok()) return Fail(s);
  for (const auto& file : *files) {
    printf("%s\n", (std::filesystem::path(f.dir) / file.name).c_str());
  }
  fprintf(stderr,
          "certs: coordinator: --tls-cert coordinator.pem --tls-key coordinator.key "
          "--tls-client-ca ca.pem; workers: --tls-ca ca.pem --tls-cert worker-N.pem --tls-key "
          "worker-N.key; crawl commands: the same with admin.pem/admin.key\n");
  return kExitOk;
}

}  // namespace

void RegisterCerts(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand(
      "certs", "CA and certificates for mutual TLS between workers and coordinator");
  auto* init = cmd->add_subcommand(
      "init",
      "Create a CA (ca.pem/.key), a coordinator server certificate, an admin client "
      "certificate and worker client certificates (worker-N.pem/.key) in DIR");
  auto f = std::make_shared<CertsFlags>();
  init->add_option("DIR", f->dir, "Output directory (created when missing)")->required();
  init->add_option("--workers", f->mtls.workers, "Worker client certificates to create")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000));
  init->add_option("--coordinator-name", f->mtls.coordinator_names,
                   "DNS name or IP address workers use to reach the coordinator (repeatable; "
                   "localhost, 127.0.0.1 and ::1 are always included)");
  init->add_option("--days", f->mtls.days, "Validity of the coordinator and client certificates")
      ->capture_default_str()
      ->check(CLI::Range(1, 3650));
  init->add_flag("--force", f->force, "Overwrite existing files");
  cmd->require_subcommand(1);
  init->callback([&state, f] { state.exit_code = Run(*f); });
}

}  // namespace mxcensus::cli
