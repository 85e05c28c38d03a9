#include "cli/admin_client.h"

#include <chrono>
#include <fstream>
#include <sstream>

#include "cli/command.h"
#include "common/file_util.h"

namespace mxcensus::cli {
void CoordinatorFlags::Add(CLI::App* cmd) {
  cmd->add_option("--coordinator", address, "Coordinator address HOST:PORT")->capture_default_str();
  AddTokenFlag(cmd, &token_file);
  cmd->add_option("--tls-ca", tls_ca, "CA (PEM) to verify the coordinator: enables TLS")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-cert", tls_cert, "Client certificate (PEM) for mutual TLS")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-key", tls_key, "Client private key (PEM) for mutual TLS")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-server-name", tls_server_name,
                  "Name expected on the coordinator's certificate (default: the address's host)");
}

absl::StatusOr<AdminClient> ConnectAdmin(const CoordinatorFlags& flags) {
  AdminClient c;
  auto token = ReadTokenFile(flags.token_file);
  if (!token.ok()) return token.status();
  c.token = *token;
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!flags.tls_ca.empty() || !flags.tls_cert.empty()) {
    grpc::SslCredentialsOptions ssl;
    if (!flags.tls_ca.empty()) {
      auto ca = ReadWholeFile("--tls-ca", flags.tls_ca);
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *ca;
    }
    if (!flags.tls_cert.empty()) {
      auto cert = ReadWholeFile("--tls-cert", flags.tls_cert);
      if (!cert.ok()) return cert.status();
      auto key = ReadWholeFile("--tls-key", flags.tls_key);
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    creds = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  if (!flags.tls_server_name.empty()) args.SetSslTargetNameOverride(flags.tls_server_name);
  c.stub = v1::Coordinator::NewStub(grpc::CreateCustomChannel(flags.address, creds, args));
  return c;
}

std::unique_ptr<grpc::ClientContext> AdminClient::Context(int timeout_s) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
  return ctx;
}

std::string DescribeRpcError(const grpc::Status& s, const std::string& address) {
  static const char* kNames[] = {"OK",
                                 "CANCELLED",
                                 "UNKNOWN",
                                 "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED",
                                 "NOT_FOUND",
                                 "ALREADY_EXISTS",
                                 "PERMISSION_DENIED",
                                 "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION",
                                 "ABORTED",
                                 "OUT_OF_RANGE",
                                 "UNIMPLEMENTED",
                                 "INTERNAL",
                                 "UNAVAILABLE",
                                 "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  const int code = static_cast<int>(s.error_code());
  std::string name = code >= 0 && code <= 16 ? kNames[code] : std::to_string(code);
  return name + ": " + s.error_message() + " (coordinator at " + address + ")";
}

}  // namespace mxcensus::cli
