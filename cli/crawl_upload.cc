#include "cli/crawl_upload.h"

#include "cli/admin_client.h"

namespace mxcensus::cli {
namespace {

// Fills `m` with up to `chunk` domains; ranks only when some line of the chunk had one.
void NextChunk(DomainListReader& reader, int chunk, v1::StartCrawlRequest& m) {
  m.clear_domains();
  m.clear_ranks();
  bool ranked = false;
  while (m.domains_size() < chunk) {
    auto entry = reader.Next();
    if (!entry) break;
    m.add_domains(std::move(entry->domain));
    m.add_ranks(entry->rank);
    ranked |= entry->rank > 0;
  }
  if (!ranked) m.clear_ranks();
}

}  // namespace

absl::StatusOr<v1::StartCrawlResponse> UploadCrawl(
    v1::Coordinator::Stub& stub, grpc::ClientContext& ctx, v1::StartCrawlRequest header,
    DomainListReader& reader, const std::string& list, const std::string& address, int chunk) {
  v1::StartCrawlRequest m = std::move(header);
  NextChunk(reader, chunk, m);
  if (!reader.status().ok()) return reader.status();
  if (m.domains_size() == 0) return absl::InvalidArgumentError(list + ": no valid domain");
  v1::StartCrawlResponse resp;
  auto writer = stub.StartCrawl(&ctx, &resp);
  while (m.domains_size() > 0) {
    if (!writer->Write(m)) break;  // the stream broke: Finish() says why
    m.Clear();
    NextChunk(reader, chunk, m);
  }
  if (!reader.status().ok()) {
    // The coordinator must not create a crawl from part of the list.
    ctx.TryCancel();
    (void)writer->Finish();
    return reader.status();
  }
  writer->WritesDone();
  auto st = writer->Finish();
  if (!st.ok()) return absl::UnavailableError(DescribeRpcError(st, address));
  return resp;
}

}  // namespace mxcensus::cli
