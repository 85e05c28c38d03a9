#pragma once

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "proto/mxcensus.grpc.pb.h"

namespace mxcensus::cli {

// How a command reaches a coordinator: address, token and TLS files.
struct CoordinatorFlags {
  std::string address = "127.0.0.1:7400";
  std::string token_file;
  std::string tls_ca, tls_cert, tls_key, tls_server_name;
  void Add(CLI::App* cmd);
};

struct AdminClient {
  std::unique_ptr<v1::Coordinator::Stub> stub;
  std::string token;
  // A context with the token and a deadline.
  std::unique_ptr<grpc::ClientContext> Context(int timeout_s = 30) const;
};

absl::StatusOr<AdminClient> ConnectAdmin(const CoordinatorFlags& flags);
// "UNAVAILABLE: connection refused (coordinator at 127.0.0.1:7400)".
std::string DescribeRpcError(const grpc::Status& s, const std::string& address);

}  // namespace mxcensus::cli
