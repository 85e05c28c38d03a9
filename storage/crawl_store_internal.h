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
  int rolled_back = 0;
  while (true) {
    absl::StatusOr<T> result = absl::UnavailableError("not run");
    auto conn = Conn();
    if (conn.ok()) {
      result = WithSqlErrors(what, [&]() -> absl::StatusOr<T> { return fn(**conn); });
    } else {
      result = conn.status();
    }
    if (result.ok() || stop_retrying_) return result;
    const RetryAction action = RetryFor(result.status(), rolled_back);
    if (action == RetryAction::kGiveUp) return result;
    if (action == RetryAction::kAgainNow) {
      // A deadlock or serialization failure: the server undid the transaction, the connection
      // and what this store knows about it (staging tables, stored certificates) are intact.
      // The other transaction has gone on by now, so running again at once mostly succeeds.
      ++rolled_back;
      std::this_thread::sleep_for(kRollbackPause * rolled_back);
      continue;
    }
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
