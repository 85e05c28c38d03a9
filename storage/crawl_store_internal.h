#pragma once
// Shared by the .cc files of CrawlStore; not part of the storage API.

#include <algorithm>
#include <thread>

#include "storage/crawl_store.h"
#include "storage/db.h"

namespace mxcensus::storage {

template <typename T, typename Fn>
absl::StatusOr<T> CrawlStore::Run(const char* what, Fn&& fn) {
  const auto deadline = std::chrono::steady_clock::now() + retry_budget_;
  std::chrono::milliseconds backoff{100};
  while (true) {
    absl::StatusOr<T> result = absl::UnavailableError("not run");
    auto conn = Conn();
    if (conn.ok()) {
      result = WithSqlErrors(what, [&]() -> absl::StatusOr<T> { return fn(**conn); });
    } else {
      result = conn.status();
    }
    // Only a lost or unreachable server is retried; SQL errors are ours to report.
    if (result.ok() || result.status().code() != absl::StatusCode::kUnavailable) return result;
    conn_.reset();
    if (std::chrono::steady_clock::now() + backoff > deadline) return result;
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

// Turns a crawl whose resolve shards are all closed into a probing crawl: derives the unique
// (ip, port, mx name) targets of the whole crawl, in an order shuffled per crawl, and cuts them
// into probe shards. A crawl without targets is finished at once.
void DeriveTargets(pqxx::work& tx, int64_t crawl_id);

}  // namespace mxcensus::storage
