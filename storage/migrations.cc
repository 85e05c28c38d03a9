#include "storage/migrations.h"

#include <pqxx/errorhandler>
#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "storage/db.h"

namespace mxcensus::storage {
namespace {

// Arbitrary constant naming mxcensus's migration lock among advisory locks.
constexpr int64_t kMigrationLockKey = 0x6d7863656e737573;  // "mxcensus"

// FNV-1a over the SQL text: detects a migration edited after it was applied.
std::string Checksum(const char* sql) {
  uint64_t h = 1469598103934665603ull;
  for (const char* p = sql; *p; ++p) {
    h ^= static_cast<unsigned char>(*p);
    h *= 1099511628211ull;
  }
  char buf[17];
  snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// Collects the server's WARNING messages while it is registered.
class WarningCollector final : public pqxx::errorhandler {
 public:
  explicit WarningCollector(pqxx::connection& conn) : pqxx::errorhandler(conn) {}
  bool operator()(const char msg[]) noexcept override {
    try {
      std::string m(msg);
      if (m.rfind("WARNING:", 0) == 0) {
        m = m.substr(m.find_first_not_of(' ', 8));
        while (!m.empty() && m.back() == '\n') m.pop_back();
        messages.push_back(std::move(m));
        return false;
      }
    } catch (...) {
    }
    return true;
  }
  std::vector<std::string> messages;
};

void EnsureTable(pqxx::connection& conn) {
  pqxx::work tx(conn);
  tx.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
      " applied_at timestamptz NOT NULL DEFAULT now())");
  tx.commit();
}

// The researchers' role of 0001, created before the migrations run. Roles are cluster-wide,
// but the advisory lock serialises only the migrators of one database: two databases of one
// cluster migrated at once (as parallel tests do on a fresh server) both found the role missing,
// and the second CREATE ROLE failed on the first's row. One that loses that race finds the role
// on its second try. Best effort: without the right to create roles, 0001 reports it.
void EnsureReaderRole(pqxx::connection& conn) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    try {
      pqxx::work tx(conn);
      tx.exec(
          "DO $$ BEGIN "
          "IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mxcensus_reader') THEN "
          "CREATE ROLE mxcensus_reader NOLOGIN; END IF; END $$");
      tx.commit();
      return;
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (const pqxx::sql_error&) {
    }
  }
}

}  // namespace

absl::StatusOr<MigrateReport> Migrate(pqxx::connection& conn, int up_to_version) {
  return WithSqlErrors("migrate", [&]() -> absl::StatusOr<MigrateReport> {
    EnsureTable(conn);
    EnsureReaderRole(conn);
    MigrateReport report;
    for (const Migration& m : AllMigrations()) {
      if (m.version > up_to_version) break;
      pqxx::work tx(conn);
      // Serialises concurrent migrators; released at commit.
      tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
      auto row =
          tx.exec_params("SELECT checksum FROM schema_migrations WHERE version = $1", m.version);
      const std::string sum = Checksum(m.sql);
      if (!row.empty()) {
        if (row[0][0].as<std::string>() != sum) {
          return absl::FailedPreconditionError(
              "migration " + std::string(m.name) +
              " was changed after it was applied (checksum mismatch); migrations are forward-only");
        }
        report.current_version = m.version;
        continue;
      }
      {
        WarningCollector warnings(conn);
        tx.exec(m.sql);
        for (const auto& w : warnings.messages) {
          report.warnings.push_back(std::string(m.name) + ": " + w);
        }
      }
      tx.exec_params("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1,$2,$3)",
                     m.version, std::string(m.name), sum);
      tx.commit();
      report.applied.push_back(m.name);
      report.current_version = m.version;
    }
    pqxx::work tx(conn);
    int latest = tx.exec("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0].as<int>();
    if (latest > report.current_version) {
      return absl::FailedPreconditionError(
          "the database's schema (version " + std::to_string(latest) +
          ") is newer than this mxcensus (version " + std::to_string(report.current_version) +
          "); upgrade mxcensus");
    }
    return report;
  });
}

absl::StatusOr<int> SchemaVersion(pqxx::connection& conn) {
  return WithSqlErrors("schema version", [&]() -> absl::StatusOr<int> {
    pqxx::work tx(conn);
    auto r = tx.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (!r[0][0].as<bool>()) return 0;
    return tx.exec("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0].as<int>();
  });
}

}  // namespace mxcensus::storage
