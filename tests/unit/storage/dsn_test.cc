#include "storage/dsn.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <map>
#include <string>

namespace mxcensus::storage {
namespace {

// What libpq itself makes of a DSN: keyword -> value (set ones only).
std::map<std::string, std::string> Parse(const std::string& dsn) {
  std::map<std::string, std::string> out;
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
  EXPECT_NE(opts, nullptr) << dsn << ": " << (err ? err : "");
  if (err) PQfreemem(err);
  if (!opts) return out;
  for (auto* o = opts; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) out[o->keyword] = o->val;
  }
  PQconninfoFree(opts);
  return out;
}

TEST(Dsn, KeyValueGetsQuotedPassword) {
  const std::string pw = "p a'ss\\w=rd";
  auto d = DsnWithPassword("host=db user=mxcensus dbname=mxcensus", pw);
  ASSERT_TRUE(d.ok()) << d.status();
  auto p = Parse(*d);
  EXPECT_EQ(p["password"], pw);
  EXPECT_EQ(p["host"], "db");
  EXPECT_EQ(p["dbname"], "mxcensus");
}

TEST(Dsn, UriGetsPercentEncodedPassword) {
  const std::string pw = "p@ss/w?rd&x=%1 é";
  for (std::string uri : {"postgresql://mxcensus@db:5432/mxcensus",
                          "postgres://mxcensus@db/mxcensus?sslmode=disable"}) {
    auto d = DsnWithPassword(uri, pw);
    ASSERT_TRUE(d.ok()) << d.status();
    auto p = Parse(*d);
    EXPECT_EQ(p["password"], pw) << *d;
    EXPECT_EQ(p["user"], "mxcensus");
    EXPECT_EQ(p["host"], "db");
  }
  EXPECT_EQ(Parse(*DsnWithPassword("postgres://u@h/d?sslmode=disable", "x"))["sslmode"], "disable");
}

TEST(Dsn, RejectsTwoPasswordsEmptyPasswordAndBadDsn) {
  auto twice = DsnWithPassword("host=db password=old", "new");
  EXPECT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("already has a password"), std::string::npos);
  EXPECT_FALSE(DsnWithPassword("postgresql://u:old@h/d", "new").ok());
  EXPECT_FALSE(DsnWithPassword("host=db", "").ok());
  auto bad = DsnWithPassword("host='unterminated", "x");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("database DSN"), std::string::npos);
}

}  // namespace
}  // namespace mxcensus::storage
