#include "storage/db.h"

namespace mxcensus::storage {

std::string OneLine(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) {
      out += ' ';
      space = false;
    }
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect(const std::string& dsn) {
  try {
    return std::make_unique<pqxx::connection>(dsn);
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError("cannot connect to the database: " + OneLine(e.what()));
  } catch (const std::exception& e) {
    // libpq rejects a malformed DSN before any connection attempt.
    return absl::InvalidArgumentError("invalid database DSN: " + OneLine(e.what()));
  }
}

}  // namespace mxcensus::storage
