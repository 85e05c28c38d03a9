// How CrawlStore tells the failures it retries apart: a lost server (new connection, backoff), a
// transaction the server rolled back on its own (again at once, same connection, bounded), and
// everything else (the caller's).
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "storage/crawl_store.h"
#include "storage/db.h"

namespace mxcensus::storage {
namespace {

template <typename E>
absl::Status Thrown(E e) {
  return WithSqlErrors("op", [&]() -> absl::Status { throw e; });
}

TEST(RetryTest, LibpqxxErrorsBecomeTheirCodes) {
  EXPECT_TRUE(absl::IsUnavailable(Thrown(pqxx::broken_connection("gone"))));
  EXPECT_TRUE(absl::IsUnavailable(Thrown(pqxx::in_doubt_error("commit unknown"))));
  const absl::Status deadlock = Thrown(pqxx::deadlock_detected("deadlock detected"));
  EXPECT_TRUE(absl::IsAborted(deadlock)) << deadlock;
  EXPECT_NE(deadlock.message().find("deadlock detected"), std::string_view::npos);
  EXPECT_TRUE(absl::IsAborted(Thrown(pqxx::serialization_failure("could not serialize"))));
  EXPECT_TRUE(absl::IsAborted(Thrown(pqxx::transaction_rollback("rolled back"))));
  EXPECT_TRUE(absl::IsInternal(Thrown(pqxx::unique_violation("duplicate key"))));
  EXPECT_TRUE(absl::IsInternal(Thrown(pqxx::sql_error("syntax error"))));
}

TEST(RetryTest, RollbacksRunAgainOnTheSameConnectionABoundedNumberOfTimes) {
  const absl::Status aborted = absl::AbortedError("deadlock");
  for (int i = 0; i < kMaxRollbackRetries; ++i) {
    EXPECT_EQ(RetryFor(aborted, i), RetryAction::kAgainNow) << i;
  }
  EXPECT_EQ(RetryFor(aborted, kMaxRollbackRetries), RetryAction::kGiveUp);
  // A lost server is retried on a new connection whatever came before.
  EXPECT_EQ(RetryFor(absl::UnavailableError("gone"), 0), RetryAction::kReconnect);
  EXPECT_EQ(RetryFor(absl::UnavailableError("gone"), kMaxRollbackRetries), RetryAction::kReconnect);
  EXPECT_EQ(RetryFor(absl::InternalError("bug"), 0), RetryAction::kGiveUp);
  EXPECT_EQ(RetryFor(absl::InvalidArgumentError("bad address"), 0), RetryAction::kGiveUp);
  EXPECT_EQ(RetryFor(absl::FailedPreconditionError("unknown certificate"), 0),
            RetryAction::kGiveUp);
}

}  // namespace
}  // namespace mxcensus::storage
