// The embedded default database: created on first use, survives stop/start with its data, and
// its DSN works with psql.
#include <gtest/gtest.h>

#include "tests/harness/test_util.h"

namespace mxcensus {
namespace {

using testing::RunCommand;
using testing::RunMxcensus;
using testing::TempDir;

class EmbeddedDbTest : public ::testing::Test {
 protected:
  // /tmp so that the 'postgres' user can reach it when the test runs as root.
  TempDir home_;
  std::vector<std::string> env_{"MXCENSUS_HOME=" + home_.path() + "/home", "MXCENSUS_DB="};
  void TearDown() override { RunMxcensus({"db", "stop"}, "", env_); }
  testing::CommandOutput Mx(std::vector<std::string> args) { return RunMxcensus(args, "", env_); }
};

TEST_F(EmbeddedDbTest, StartStopKeepsDataAndDsnWorksWithPsql) {
  // Before the first start: status says stopped (exit 3).
  auto st0 = Mx({"db", "status"});
  EXPECT_EQ(st0.exit_code, 3) << st0.out << st0.err;
  EXPECT_NE(st0.out.find("not initialised"), std::string::npos);

  auto start = Mx({"db", "start"});
  ASSERT_EQ(start.exit_code, 0) << start.err;
  auto st1 = Mx({"db", "status"});
  EXPECT_EQ(st1.exit_code, 0);
  EXPECT_NE(st1.out.find("running"), std::string::npos);

  auto dsn = Mx({"db", "dsn"});
  ASSERT_EQ(dsn.exit_code, 0);
  std::string d = dsn.out.substr(0, dsn.out.find('\n'));
  EXPECT_EQ(d.find("host=" + home_.path()), d.find("host="));  // a private socket dir

  // The schema is there (start migrates), and psql accepts the DSN.
  auto q = RunCommand({"psql", d, "-Atc", "SELECT count(*) FROM schema_migrations"});
  ASSERT_EQ(q.exit_code, 0) << q.err;
  EXPECT_GE(std::stoi(q.out), 1);
  auto ins = RunCommand({"psql", d, "-Atc", "INSERT INTO crawl (name) VALUES ('kept') RETURNING name"});
  ASSERT_EQ(ins.exit_code, 0) << ins.err;

  ASSERT_EQ(Mx({"db", "stop"}).exit_code, 0);
  EXPECT_EQ(Mx({"db", "status"}).exit_code, 3);
  auto down = RunCommand({"psql", d, "-Atc", "SELECT 1"});
  EXPECT_NE(down.exit_code, 0);

  ASSERT_EQ(Mx({"db", "start"}).exit_code, 0);
  auto kept = RunCommand({"psql", d, "-Atc", "SELECT name FROM crawl"});
  ASSERT_EQ(kept.exit_code, 0) << kept.err;
  EXPECT_EQ(kept.out, "kept\n");

  // Without --db, db migrate uses the embedded cluster (and finds nothing to do).
  auto mig = Mx({"db", "migrate"});
  EXPECT_EQ(mig.exit_code, 0) << mig.err;
  EXPECT_NE(mig.out.find("0 migrations applied now"), std::string::npos) << mig.out;
}

TEST_F(EmbeddedDbTest, MigrateWithoutDbStartsTheClusterOnDemand) {
  auto mig = Mx({"db", "migrate"});
  ASSERT_EQ(mig.exit_code, 0) << mig.err;
  EXPECT_EQ(Mx({"db", "status"}).exit_code, 0);
}

}  // namespace
}  // namespace mxcensus
