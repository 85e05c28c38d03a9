#pragma once

#include <limits>
#include <pqxx/connection>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mxcensus::storage {

// One forward-only schema step, storage/migrations/NNNN_name.sql.
struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// Every migration compiled into this binary, in version order.
const std::vector<Migration>& AllMigrations();

struct MigrateReport {
  std::vector<std::string> applied;  // names applied by this call
  int current_version = 0;           // the schema's version afterwards
  // What the migrations applied now said with RAISE WARNING ("NAME: message"): what one did to
  // existing rows that the operator should know (0005: rows moved to probe_unmatched).
  std::vector<std::string> warnings;
};

// Applies the migrations the database lacks, each in its own transaction, recording each in
// schema_migrations. Concurrent callers serialise on an advisory lock; a second run is a no-op.
// Fails if the database's schema is newer than this binary or an applied migration's text changed.
// `up_to_version` stops after that version (tests that upgrade an older schema).
absl::StatusOr<MigrateReport> Migrate(pqxx::connection& conn,
                                      int up_to_version = std::numeric_limits<int>::max());

// The schema version recorded in the database (0 when never migrated).
absl::StatusOr<int> SchemaVersion(pqxx::connection& conn);

}  // namespace mxcensus::storage
