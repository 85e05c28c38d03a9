#pragma once

#include <cstdint>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "common/probe_result.h"

namespace mxcensus::testing {

// A fresh, empty database on the test run's PostgreSQL server (started by tests/harness/pg.sh,
// described by $MXCENSUS_TEST_PG_DSN). Dropped when the object goes away. A test that finds no
// server fails: a skipped integration test would be a hole, not a pass.
class TestDatabase {
 public:
  TestDatabase();
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& dsn() const { return dsn_; }
  const std::string& name() const { return name_; }
  // The server's DSN without a database name (for admin statements).
  static std::string ServerDsn();
  std::unique_ptr<pqxx::connection> Connect() const;
  // The first column of the first row of `sql`, as an integer (counts, ids, sums).
  int64_t Count(const std::string& sql) const;
  // Makes each of `results` a target of shard `shard_id` of crawl `crawl_id` (its target_id,
  // ip, port and name), as target derivation would: the coordinator stores only results that
  // are the target they name.
  void AddTargets(int64_t crawl_id, int shard_id, const std::vector<ProbeResult>& results) const;

 private:
  std::string name_;
  std::string dsn_;
};

}  // namespace mxcensus::testing
