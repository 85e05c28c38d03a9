#include "tests/harness/test_db.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <stdexcept>

#include "tests/harness/test_config.h"

namespace mxcensus::testing {

std::string TestDatabase::ServerDsn() {
  const char* dsn = std::getenv("MXCENSUS_TEST_PG_DSN");
  return dsn != nullptr && *dsn != '\0' ? dsn : kTestPgDsn;
}

TestDatabase::TestDatabase() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  name_ = "mxt_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + "_" +
          std::to_string(rd() % 100000);
  pqxx::connection admin(ServerDsn() + " dbname=postgres");
  pqxx::nontransaction tx(admin);
  tx.exec("CREATE DATABASE " + name_);
  dsn_ = ServerDsn() + " dbname=" + name_;
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection admin(ServerDsn() + " dbname=postgres");
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (...) {
    // The server is removed at the end of the run anyway.
  }
}

std::unique_ptr<pqxx::connection> TestDatabase::Connect() const {
  return std::make_unique<pqxx::connection>(dsn_);
}

int64_t TestDatabase::Count(const std::string& sql) const {
  auto c = Connect();
  pqxx::work tx(*c);
  return tx.exec(sql)[0][0].as<int64_t>();
}

void TestDatabase::AddTargets(int64_t crawl_id, int shard_id,
                              const std::vector<ProbeResult>& results) const {
  auto c = Connect();
  pqxx::work tx(*c);
  for (const ProbeResult& r : results) {
    tx.exec_params(
        "INSERT INTO target (crawl_id, target_id, ip, port, mx_name, shard_id) "
        "VALUES ($1, $2, $3::inet, $4, $5, $6)",
        crawl_id, static_cast<int64_t>(r.target_id), r.ip, static_cast<int>(r.port), r.name,
        shard_id);
  }
  tx.commit();
}

}  // namespace mxcensus::testing
