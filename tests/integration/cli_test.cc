// The binary's surface: every subcommand has --help; bad flags and missing files are one line.
#include <gtest/gtest.h>

#include "tests/harness/test_util.h"

namespace mxcensus {
namespace {

using testing::CountLines;
using testing::RunMxcensus;

const std::vector<std::vector<std::string>> kCommands = {
    {"scan"},        {"probe"},         {"resolve"},      {"coordinator"},  {"worker"},
    {"crawl"},       {"crawl", "start"}, {"crawl", "status"}, {"crawl", "list"},
    {"crawl", "cancel"}, {"report"},    {"db"},           {"db", "migrate"}, {"db", "start"},
    {"db", "stop"},  {"db", "status"},  {"db", "dsn"},    {"lab"},          {"maillog"},
    {"advise"},      {"certs"},         {"certs", "init"}, {"version"},
};

TEST(CliTest, EverySubcommandHasHelp) {
  for (auto args : kCommands) {
    args.push_back("--help");
    auto r = RunMxcensus(args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << ": " << r.err;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << args[0];
  }
  auto top = RunMxcensus({"--help"});
  EXPECT_EQ(top.exit_code, 0);
  for (const char* name : {"scan", "probe", "resolve", "coordinator", "worker", "crawl", "report",
                           "db", "lab", "maillog", "advise", "certs", "version"}) {
    EXPECT_NE(top.out.find(name), std::string::npos) << name;
  }
}

TEST(CliTest, VersionPrintsVersion) {
  auto r = RunMxcensus({"version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("mxcensus ", 0), 0u) << r.out;
}

TEST(CliTest, UnknownFlagIsOneLineExit2) {
  auto r = RunMxcensus({"db", "migrate", "--no-such-flag"});
  EXPECT_EQ(r.exit_code, 2);
  ASSERT_GE(CountLines(r.err), 1);
  const std::string first = r.err.substr(0, r.err.find('\n'));
  EXPECT_NE(first.find("mxcensus: error:"), std::string::npos) << r.err;
  EXPECT_NE(first.find("--no-such-flag"), std::string::npos) << r.err;
}

TEST(CliTest, UnknownSubcommandExit2) {
  auto r = RunMxcensus({"frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("frobnicate"), std::string::npos) << r.err;
}

TEST(CliTest, MissingInputFileNamesTheFile) {
  for (const char* cmd : {"probe", "resolve", "scan", "maillog"}) {
    auto r = RunMxcensus({cmd, "/nonexistent/input-file.txt"});
    EXPECT_EQ(r.exit_code, 2) << cmd;
    const std::string first = r.err.substr(0, r.err.find('\n'));
    EXPECT_NE(first.find("/nonexistent/input-file.txt"), std::string::npos) << cmd << ": " << r.err;
    EXPECT_NE(first.find("mxcensus: error:"), std::string::npos) << cmd << ": " << r.err;
  }
}

}  // namespace
}  // namespace mxcensus
