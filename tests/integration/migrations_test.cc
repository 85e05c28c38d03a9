// Migrations against a real PostgreSQL: apply, re-apply (no-op), and the reader role's limits.
#include "storage/migrations.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "storage/db.h"
#include "tests/harness/test_db.h"
#include "tests/harness/test_util.h"

namespace mxcensus {
namespace {

using testing::RunMxcensus;
using testing::TestDatabase;

// The schema of release `version` exactly, as a database left by that release has it.
void MigrateTo(pqxx::connection& c, int version) {
  auto r = storage::Migrate(c, version);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->current_version, version);
}

// A login role `alice` in mxcensus_reader (roles are cluster-wide: created once).
void AddReaderLogin(pqxx::work& tx) {
  tx.exec(
      "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname='alice') THEN "
      "CREATE ROLE alice LOGIN IN ROLE mxcensus_reader; END IF; END $$");
}

int CountTables(pqxx::connection& c) {
  pqxx::work tx(c);
  return tx
      .exec(
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
                                testing::MxcensusBin() + " db migrate --db '" + db.dsn() + "' & " +
                                    testing::MxcensusBin() + " db migrate --db '" + db.dsn() +
                                    "'; wait"});
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
      "INSERT INTO probe (crawl_id, target_id, ip, port, mx_name, outcome, stage, started_at) "
      "VALUES ($1, 1, '127.20.0.5', 25, 'mx1.example.test', 'starttls_ok', 'quit', now())",
      id);
  EXPECT_EQ(tx.exec_params("SELECT count(*) FROM probe_c" + std::to_string(id))[0][0].as<int>(), 1);
  // One row per crawl and target.
  {
    pqxx::subtransaction sp(tx, "dup");
    EXPECT_THROW(sp.exec("INSERT INTO probe (crawl_id, target_id, ip, port, mx_name, outcome, "
                         "stage, started_at) VALUES (" +
                         std::to_string(id) +
                         ", 1, '127.20.0.6', 25, 'mx2.example.test', 'no_starttls', 'ehlo', "
                         "now())"),
                 pqxx::unique_violation);
  }
  // Every row is a target's.
  EXPECT_THROW(tx.exec_params("INSERT INTO probe (crawl_id, ip, port, mx_name, outcome, stage, "
                              "started_at) VALUES ($1, '127.20.0.5', 25, 'mx1.example.test', "
                              "'no_starttls', 'ehlo', now())",
                              id),
               pqxx::not_null_violation);
}

// 0008 replaced target's foreign key to crawl by one check per statement; a database of 0007
// with targets upgrades, and the key's three guarantees still hold.
TEST(MigrationsTest, TargetsStillNeedTheirCrawlAndGoWithItAfter0008) {
  TestDatabase db;
  auto conn = db.Connect();
  MigrateTo(*conn, 7);
  int64_t a = 0, b = 0;
  {
    pqxx::work tx(*conn);
    a = tx.exec("INSERT INTO crawl (name) VALUES ('a') RETURNING crawl_id")[0][0].as<int64_t>();
    b = tx.exec("INSERT INTO crawl (name) VALUES ('b') RETURNING crawl_id")[0][0].as<int64_t>();
    tx.exec_params(
        "INSERT INTO target (crawl_id, target_id, ip, port, mx_name, shard_id) "
        "SELECT $1, n, ('127.20.0.' || n)::inet, 25, 'mx.test', 0 FROM generate_series(1, 3) n",
        a);
    tx.commit();
  }
  ASSERT_TRUE(storage::Migrate(*conn).ok());
  pqxx::work tx(*conn);
  EXPECT_EQ(
      tx.exec("SELECT count(*) FROM pg_constraint WHERE conname = 'target_crawl_id_fkey'")[0][0]
          .as<int>(),
      0);
  // A statement of many rows for a live crawl goes in; one naming no crawl fails whole, with the
  // foreign key's SQLSTATE and the crawl in its message.
  tx.exec_params(
      "INSERT INTO target (crawl_id, target_id, ip, port, mx_name, shard_id) "
      "SELECT $1, n, ('127.21.0.' || n)::inet, 25, 'mx.test', 0 FROM generate_series(1, 5) n",
      b);
  {
    pqxx::subtransaction sp(tx, "orphan");
    try {
      // exec, not exec_params: after a failed exec_params this libpqxx (6.4) left the
      // subtransaction unrolled-back (seen here), after a failed exec it rolls back.
      sp.exec("INSERT INTO target (crawl_id, target_id, ip, port, mx_name, shard_id) VALUES (" +
              std::to_string(b) + ", 9, '127.21.0.9', 25, 'mx.test', 0), (" +
              std::to_string(b + 1000) + ", 1, '127.22.0.1', 25, 'x.test', 0)");
      ADD_FAILURE() << "a target of no crawl went in";
    } catch (const pqxx::foreign_key_violation& e) {
      EXPECT_NE(std::string(e.what()).find("crawl " + std::to_string(b + 1000)), std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(tx.exec_params("SELECT count(*) FROM target WHERE crawl_id = $1", b)[0][0].as<int>(),
            5);
  // Neither side's id moves while targets name it.
  {
    pqxx::subtransaction sp(tx, "move target");
    EXPECT_THROW(sp.exec("UPDATE target SET crawl_id = " + std::to_string(b) +
                         " WHERE crawl_id = " + std::to_string(a)),
                 pqxx::foreign_key_violation);
  }
  {
    pqxx::subtransaction sp(tx, "renumber crawl");
    EXPECT_THROW(sp.exec("UPDATE crawl SET crawl_id = " + std::to_string(b + 1000) +
                         " WHERE crawl_id = " + std::to_string(a)),
                 pqxx::foreign_key_violation);
  }
  // Deleting a crawl deletes its targets and no other crawl's.
  tx.exec_params("DELETE FROM crawl WHERE crawl_id = $1", a);
  EXPECT_EQ(tx.exec_params("SELECT count(*) FROM target WHERE crawl_id = $1", a)[0][0].as<int>(),
            0);
  EXPECT_EQ(tx.exec_params("SELECT count(*) FROM target WHERE crawl_id = $1", b)[0][0].as<int>(),
            5);
  // Until this transaction ends, crawl b cannot be deleted under its new targets: the check
  // locked it as the key's check did.
  auto other = db.Connect();
  pqxx::work deleter(*other);
  deleter.exec("SET lock_timeout = '200ms'");
  EXPECT_THROW(deleter.exec_params("DELETE FROM crawl WHERE crawl_id = $1", b), pqxx::sql_error);
}

// A database of schema 0004 with probe rows keyed by (crawl, ip, port, mx name) upgrades to the
// key (crawl, target_id): every row takes its target's id (a missing or wrong one included),
// rows that are no target of their crawl are moved to probe_unmatched whole, and nothing is lost.
TEST(MigrationsTest, ProbeRowsOfA0004DatabaseTakeTheirTargetsIdOrAreKeptAside) {
  TestDatabase db;
  auto conn = db.Connect();
  ASSERT_NO_FATAL_FAILURE(MigrateTo(*conn, 4));
  {
    pqxx::work tx(*conn);
    for (int crawl = 1; crawl <= 2; ++crawl) {
      tx.exec_params("INSERT INTO crawl (crawl_id, name) VALUES ($1, 'old')", crawl);
      tx.exec_params("SELECT mxcensus_create_probe_partition($1)", crawl);
      tx.exec_params(
          "INSERT INTO target (crawl_id, target_id, ip, port, mx_name, shard_id) "
          "SELECT $1, g, ('192.0.2.' || g)::inet, 25, 'mx' || g || '.example.test', 0 "
          "FROM generate_series(1, 3) g",
          crawl);
    }
    // Crawl 1: target 1 without an id (an old tool), target 2 with target 3's id, target 3
    // with its own, and a row of no target. Crawl 2: target 2 only.
    tx.exec(
        "INSERT INTO probe (crawl_id, target_id, ip, port, mx_name, outcome, stage, banner, "
        "started_at) VALUES "
        "(1, NULL, '192.0.2.1', 25, 'mx1.example.test', 'starttls_ok', 'quit', 'one', now()), "
        "(1, 3, '192.0.2.2', 25, 'mx2.example.test', 'no_starttls', 'quit', 'two', now()), "
        "(1, 3, '192.0.2.3', 25, 'mx3.example.test', 'timeout', 'banner', 'three', now()), "
        "(1, NULL, '192.0.2.9', 25, 'mx9.example.test', 'closed', 'ehlo', 'nine', now()), "
        "(2, NULL, '192.0.2.2', 25, 'mx2.example.test', 'starttls_ok', 'quit', 'c2', now())");
    tx.commit();
  }
  auto up = storage::Migrate(*conn);
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(up->current_version, storage::AllMigrations().back().version);
  // What it did to existing rows is said (`db migrate` prints it).
  EXPECT_EQ(up->warnings,
            (std::vector<std::string>{
                "0005_probe_target_key: probe: 3 rows took the target_id of the target with "
                "their address, port and MX name",
                "0005_probe_target_key: probe: 1 rows matched no target of their crawl and were "
                "moved to probe_unmatched"}));
  pqxx::work tx(*conn);
  auto text = [&](const std::string& sql) { return tx.exec(sql)[0][0].as<std::string>(); };
  EXPECT_EQ(text("SELECT string_agg(crawl_id || ':' || target_id || ':' || banner, ' ' "
                 "ORDER BY crawl_id, target_id) FROM probe"),
            "1:1:one 1:2:two 1:3:three 2:2:c2");
  EXPECT_EQ(text("SELECT string_agg(crawl_id || ':' || host(ip) || ':' || banner || ':' || "
                 "outcome || ':' || (moved_at IS NOT NULL), ' ') FROM probe_unmatched"),
            "1:192.0.2.9:nine:closed:true");
  // The new key, and not the old one: one row per (crawl, target), whatever its address.
  EXPECT_EQ(text("SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM pg_constraint c "
                 "CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY k(attnum, ord) "
                 "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
                 "WHERE c.conrelid = 'probe'::regclass AND c.contype = 'p'"),
            "crawl_id,target_id");
  EXPECT_EQ(text("SELECT count(*) FROM pg_indexes WHERE tablename = 'probe_c1'"), "1");
  {
    pqxx::subtransaction sp(tx, "dup");
    EXPECT_THROW(sp.exec("INSERT INTO probe (crawl_id, target_id, ip, port, mx_name, outcome, "
                         "stage, started_at) VALUES (1, 2, '192.0.2.7', 25, 'mx7.example.test', "
                         "'closed', 'connect', now())"),
                 pqxx::unique_violation);
  }
  // A crawl created after the upgrade gets the same key on its partition's slots (0009).
  tx.exec("INSERT INTO crawl (crawl_id, name) VALUES (3, 'new')");
  tx.exec("SELECT mxcensus_create_probe_partition(3)");
  EXPECT_EQ(text("SELECT indexdef FROM pg_indexes WHERE tablename = 'probe_c3_s1'"),
            "CREATE UNIQUE INDEX probe_c3_s1_pkey ON public.probe_c3_s1 USING btree (crawl_id, "
            "target_id)");
}

// 0006 adds refused_batch to a database of schema 0005 and leaves what is there alone. A batch
// delivered again (same worker, lease, batch number, content) adds no row; the reader role can
// read the table; it is no partition of probe.
TEST(MigrationsTest, RefusedBatchComesToA0005DatabaseKeepsABatchOnceAndIsReadable) {
  TestDatabase db;
  auto conn = db.Connect();
  ASSERT_NO_FATAL_FAILURE(MigrateTo(*conn, 5));
  {
    pqxx::work tx(*conn);
    tx.exec("INSERT INTO crawl (crawl_id, name) VALUES (1, 'old')");
    tx.exec("SELECT mxcensus_create_probe_partition(1)");
    tx.exec(
        "INSERT INTO probe (crawl_id, target_id, ip, port, mx_name, outcome, stage, started_at) "
        "VALUES (1, 7, '192.0.2.7', 25, 'mx7.example.test', 'closed', 'connect', now())");
    tx.commit();
  }
  auto up = storage::Migrate(*conn);
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_GE(up->current_version, 6);
  {
    pqxx::work tx(*conn);
    EXPECT_EQ(tx.exec("SELECT count(*) FROM probe WHERE target_id = 7")[0][0].as<int>(), 1);
    const std::string insert =
        "INSERT INTO refused_batch (crawl_id, kind, shard_id, lease_token, worker, batch_id, "
        "reason, items, payload_items, payload) VALUES (1, 'probe', 0, 3, 'w', 9, 'why', 1, 1, ";
    for (const char* payload :
         {"'[{\"ip\": \"x\"}]'", "'[{\"ip\": \"x\"}]'", "'[{\"ip\": \"y\"}]'"}) {
      tx.exec(insert + payload + ") ON CONFLICT DO NOTHING");
    }
    EXPECT_EQ(tx.exec("SELECT string_agg(payload->0->>'ip', ',' ORDER BY id) FROM "
                      "refused_batch WHERE refused_at <= now()")[0][0]
                  .as<std::string>(),
              "x,y");
    EXPECT_EQ(tx.exec("SELECT count(*) FROM pg_inherits WHERE inhrelid = "
                      "'refused_batch'::regclass")[0][0]
                  .as<int>(),
              0);
    AddReaderLogin(tx);
    tx.commit();
  }
  pqxx::connection alice(db.dsn() + " user=alice");
  pqxx::work tx(alice);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM refused_batch")[0][0].as<int>(), 2);
}

// The reader role may SELECT the public interface and do nothing else.
TEST(MigrationsTest, ReaderRoleCanSelectButNotWrite) {
  TestDatabase db;
  {
    auto conn = db.Connect();
    ASSERT_TRUE(storage::Migrate(*conn).ok());
    pqxx::work tx(*conn);
    tx.exec("INSERT INTO crawl (name) VALUES ('seed')");
    AddReaderLogin(tx);
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

// A crawl's partition made before 0009 is one table: derivation's slot function leaves it so,
// and the crawl's end turns its autovacuum back on.
TEST(MigrationsTest, APartitionMadeBefore0009StaysOneTable) {
  TestDatabase db;
  auto conn = db.Connect();
  ASSERT_NO_FATAL_FAILURE(MigrateTo(*conn, 8));
  {
    pqxx::work tx(*conn);
    tx.exec("INSERT INTO crawl (crawl_id, name) VALUES (1, 'old')");
    tx.exec("SELECT mxcensus_create_probe_partition(1)");
    tx.commit();
  }
  ASSERT_TRUE(storage::Migrate(*conn).ok());
  pqxx::work tx(*conn);
  tx.exec("SELECT mxcensus_create_probe_slots(1, 5)");
  auto text = [&](const std::string& sql) { return tx.exec(sql)[0][0].as<std::string>(); };
  EXPECT_EQ(text("SELECT relkind FROM pg_class WHERE oid = 'probe_c1'::regclass"), "r");
  EXPECT_EQ(text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'probe_c1'::regclass"), "0");
  EXPECT_EQ(text("SELECT reloptions::text FROM pg_class WHERE oid = 'probe_c1'::regclass"),
            "{autovacuum_enabled=off}");
  tx.exec("SELECT mxcensus_end_probe_partition(1)");
  EXPECT_EQ(text("SELECT count(*) FROM pg_class WHERE oid = 'probe_c1'::regclass "
                 "AND reloptions IS NULL"),
            "1");
  // A crawl made now is cut in slots: the default one from the start.
  tx.exec("INSERT INTO crawl (crawl_id, name) VALUES (2, 'new')");
  tx.exec("SELECT mxcensus_create_probe_partition(2)");
  EXPECT_EQ(text("SELECT relkind FROM pg_class WHERE oid = 'probe_c2'::regclass"), "p");
  EXPECT_EQ(text("SELECT pg_get_expr(relpartbound, oid) FROM pg_class "
                 "WHERE oid = 'probe_c2_s1'::regclass"),
            "DEFAULT");
  tx.exec("SELECT mxcensus_create_probe_slots(2, 5)");
  EXPECT_EQ(text("SELECT pg_get_expr(relpartbound, oid) FROM pg_class "
                 "WHERE oid = 'probe_c2_s0'::regclass"),
            "FOR VALUES FROM (MINVALUE) TO ('6')");
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
