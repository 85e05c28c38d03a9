#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/statusor.h"
#include "common/domain_input.h"
#include "proto/mxcensus.grpc.pb.h"

namespace mxcensus::cli {

// Domains per StartCrawl message: small messages, few round trips.
inline constexpr int kStartCrawlChunk = 10000;

// Starts a crawl by streaming `reader`'s domains to a coordinator's StartCrawl, `chunk` a
// message; `header` carries the name and settings. Memory stays at one chunk however long the
// list. A read error of the list cancels the stream, and the coordinator then creates nothing.
// `list` and `address` name the list and the coordinator in errors.
absl::StatusOr<v1::StartCrawlResponse> UploadCrawl(
    v1::Coordinator::Stub& stub, grpc::ClientContext& ctx, v1::StartCrawlRequest header,
    DomainListReader& reader, const std::string& list, const std::string& address,
    int chunk = kStartCrawlChunk);

}  // namespace mxcensus::cli
