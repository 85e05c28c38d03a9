#pragma once

#include <memory>
#include <pqxx/pqxx>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mxcensus::storage {

// Opens a connection. The error names the setting ("--db") and libpq's reason, never the
// password. A DSN may be a libpq URI or key=value string.
absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect(const std::string& dsn);

// libpq's multi-line error text folded into one line.
std::string OneLine(std::string_view text);

// Runs `fn`, turning libpqxx's exceptions into Status values: Unavailable for a lost or
// unreachable server, Aborted for a transaction the server rolled back on its own (a deadlock,
// a serialization failure: the connection is fine and the transaction can simply run again),
// InvalidArgument for a value its column cannot take (SQLSTATE class 22), Internal for other SQL
// errors. `what` names the operation in the message.
template <typename Fn>
auto WithSqlErrors(std::string_view what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(std::string(what) +
                                  ": database connection lost: " + OneLine(e.what()));
  } catch (const pqxx::in_doubt_error& e) {
    return absl::UnavailableError(std::string(what) +
                                  ": commit outcome unknown: " + OneLine(e.what()));
  } catch (const pqxx::transaction_rollback& e) {
    // A deadlock or serialization failure between concurrent writers: the transaction is
    // undone and can simply run again, on the same connection.
    return absl::AbortedError(std::string(what) +
                              ": transaction rolled back by the server: " + OneLine(e.what()));
  } catch (const pqxx::data_exception& e) {
    // A value its column cannot take (text with a NUL, a time out of range): the same data
    // fails again, however often it is sent. For ingestion, a batch to refuse.
    return absl::InvalidArgumentError(std::string(what) +
                                      ": the database refuses a value: " + OneLine(e.what()));
  } catch (const pqxx::sql_error& e) {
    return absl::InternalError(std::string(what) + ": " + OneLine(e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(std::string(what) + ": " + OneLine(e.what()));
  }
}

}  // namespace mxcensus::storage
