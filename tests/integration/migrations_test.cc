// Migrations against a real PostgreSQL: apply, re-apply (no-op), and the reader role's limits.
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "storage/db.h"
#include "storage/migrations.h"
#include "tests/harness/test_db.h"
#include "tests/harness/test_util.h"

namespace mxcensus {
namespace {

using testing::RunMxcensus;
using testing::TestDatabase;

int CountTables(pqxx::connection& c) {
  pqxx::work tx(c);
  return tx.exec(
      "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname = 'public' AND c.relkind IN ('r','p') AND NOT c.relispartition")[0][0]
      .as<int>();
}

TEST(MigrationsTest, ApplyToEmptyDatabaseThenSecondRunIsNoOp) {
  TestDatabase db;
  auto conn = db.Connect();
  auto first = storage::Migrate(*conn);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->applied.size(), storage::AllMigrations().size());
  EXPECT_EQ(first->current_version, storage::AllMigrations().back().version);
  const int tables = CountTables(*conn);
  EXPECT_GE(tables, 9);  // crawl, crawl_domain, mx_host, domain_mx, target, shard, certificate,
                         // probe, schema_migrations

  auto second = storage::Migrate(*conn);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->applied.empty());
  EXPECT_EQ(CountTables(*conn), tables);
  pqxx::work tx(*conn);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM schema_migrations")[0][0].as<size_t>(),
            storage::AllMigrations().size());
}

TEST(MigrationsTest, CliMigrateTwice) {
  TestDatabase db;
  auto r1 = RunMxcensus({"db", "migrate", "--db", db.dsn()});
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  EXPECT_NE(r1.out.find("applied 0001_initial"), std::string::npos) << r1.out;
  auto r2 = RunMxcensus({"db", "migrate", "--db", db.dsn()});
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_NE(r2.out.find("0 migrations applied now"), std::string::npos) << r2.out;
}

TEST(MigrationsTest, ConcurrentMigratorsApplyOnce) {
  TestDatabase db;
  auto a = testing::RunCommand({"sh", "-c",
                                testing::MxcensusBin() + " db migrate --db '" +
                                    db.dsn() + "' & " + testing::MxcensusBin() +
                                    " db migrate --db '" + db.dsn() + "'; wait"});
  EXPECT_EQ(a.exit_code, 0) << a.err;
  auto conn = db.Connect();
  pqxx::work tx(*conn);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM schema_migrations")[0][0].as<size_t>(),
            storage::AllMigrations().size());
}

TEST(MigrationsTest, ProbeIsPartitionedByCrawl) {
  TestDatabase db;
  auto conn = db.Connect();
  ASSERT_TRUE(storage::Migrate(*conn).ok());
  pqxx::work tx(*conn);
  auto id = tx.exec("INSERT INTO crawl (name) VALUES ('t') RETURNING crawl_id")[0][0].as<long>();
  tx.exec_params("SELECT mxcensus_create_probe_partition($1)", id);
  tx.exec_params("SELECT mxcensus_create_probe_partition($1)", id);  // idempotent
  tx.exec_params(
      "INSERT INTO probe (crawl_id, ip, port, mx_name, outcome, stage, started_at) "
      "VALUES ($1, '127.20.0.5', 25, 'mx1.example.test', 'starttls_ok', 'quit', now())",
      id);
  EXPECT_EQ(tx.exec_params("SELECT count(*) FROM probe_c" + std::to_string(id))[0][0].as<int>(), 1);
  // One row per crawl and target.
  EXPECT_THROW(tx.exec_params("INSERT INTO probe (crawl_id, ip, port, mx_name, outcome, stage, "
                              "started_at) VALUES ($1, '127.20.0.5', 25, 'mx1.example.test', "
                              "'no_starttls', 'ehlo', now())",
                              id),
               pqxx::unique_violation);
}

// The reader role may SELECT the public interface and do nothing else.
TEST(MigrationsTest, ReaderRoleCanSelectButNotWrite) {
  TestDatabase db;
  {
    auto conn = db.Connect();
    ASSERT_TRUE(storage::Migrate(*conn).ok());
    pqxx::work tx(*conn);
    tx.exec("INSERT INTO crawl (name) VALUES ('seed')");
    tx.exec(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname='alice') THEN "
        "CREATE ROLE alice LOGIN IN ROLE mxcensus_reader; END IF; END $$");
    tx.commit();
  }
  pqxx::connection alice(db.dsn() + " user=alice");
  {
    pqxx::work tx(alice);
    EXPECT_EQ(tx.exec("SELECT count(*) FROM crawl")[0][0].as<int>(), 1);
    EXPECT_EQ(tx.exec("SELECT count(*) FROM probe")[0][0].as<int>(), 0);
    EXPECT_EQ(tx.exec("SELECT count(*) FROM certificate")[0][0].as<int>(), 0);
  }
  const char* forbidden[] = {
      "INSERT INTO crawl (name) VALUES ('x')",
      "UPDATE crawl SET name = 'y'",
      "DELETE FROM crawl",
      "CREATE TABLE sneaky (x int)",
      "SELECT * FROM shard",  // internal table, not part of the public interface
  };
  for (const char* sql : forbidden) {
    pqxx::work tx(alice);
    EXPECT_THROW(tx.exec(sql), pqxx::insufficient_privilege) << sql;
  }
}

TEST(MigrationsTest, BadDsnIsOneClearLineAndExit2) {
  auto r = RunMxcensus({"db", "migrate", "--db", "postgresql://nobody@127.0.0.1:1/x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(testing::CountLines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("mxcensus: error: cannot connect to the database"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("password"), std::string::npos);
}

}  // namespace
}  // namespace mxcensus
