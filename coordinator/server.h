#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "coordinator/core.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace mxcensus::coordinator {

struct ServerOptions {
  std::string listen = "127.0.0.1:7400";
  std::string metrics;   // HOST:PORT for /metrics; empty = none
  std::string tls_cert;  // PEM files; with both, the server speaks TLS
  std::string tls_key;
  std::string tls_client_ca;  // PEM; with it, clients must present a certificate it signed
  bool insecure = false;      // allow plaintext without a token on a non-loopback address
  // Where the coordinator's metrics go; null: a registry of its own. `scan` passes the one its
  // worker side also uses, so that one /metrics serves both without duplicate families.
  std::shared_ptr<prometheus::Registry> registry;
};

class CoordinatorServer {
 public:
  // Starts the gRPC service and the metrics endpoint. Fails with InvalidArgument for a bad
  // setting (naming it) and Unavailable when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(CoordinatorOptions core,
                                                                  ServerOptions server);
  ~CoordinatorServer();

  int port() const { return port_; }
  // Asks workers to drain, then stops the service (waiting at most `grace`).
  void Shutdown(std::chrono::milliseconds grace);
  void Wait();
  CoordinatorCore& core() { return *core_; }

 private:
  CoordinatorServer() = default;
  class AdminService;

  std::shared_ptr<CoordinatorMetrics> metrics_;
  std::unique_ptr<CoordinatorCore> core_;
  std::unique_ptr<AdminService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

// True when `address` (HOST:PORT) names a loopback host.
bool IsLoopbackAddress(const std::string& address);

}  // namespace mxcensus::coordinator
