#include "storage/copy_binary.h"

#include <arpa/inet.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace mxcensus::storage {
namespace {

// Type OIDs of array elements (fixed in pg_type.dat since PostgreSQL 7).
constexpr uint32_t kTextOid = 25;
constexpr uint32_t kByteaOid = 17;
// PostgreSQL's epoch for timestamps: 2000-01-01 00:00:00 UTC, in Unix milliseconds.
constexpr int64_t kPgEpochUnixMs = 946684800000;

template <typename T>
char* StoreBigEndian(char* b, T v) {
  using U = std::make_unsigned_t<T>;
  U u;
  std::memcpy(&u, &v, sizeof u);
  for (size_t i = 0; i < sizeof u; ++i) b[i] = static_cast<char>(u >> (8 * (sizeof u - 1 - i)));
  return b + sizeof u;
}

// libpqxx 6.4 keeps the libpq handle private (7.x has connection::raw_connection()), and its
// COPY writer appends a newline to every piece of data, which a binary COPY cannot take. The
// handle is reached through an explicit template instantiation, where access checks do not
// apply ([temp.spec.general]); libpqxx is only asked to start the COPY, as its own writer does.
using RawConnField = pqxx::internal::pq::PGconn* pqxx::connection_base::*;
RawConnField RawConnFieldOf();
template <RawConnField F>
struct RawConnAccess {
  friend RawConnField RawConnFieldOf() { return F; }
};
template struct RawConnAccess<&pqxx::connection_base::m_conn>;

struct ResultFree {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultFree>;

[[noreturn]] void ThrowFromConnection(PGconn* pg, const std::string& what) {
  const std::string msg = what + ": " + PQerrorMessage(pg);
  if (PQstatus(pg) != CONNECTION_OK) throw pqxx::broken_connection(msg);
  throw pqxx::failure(msg);
}

}  // namespace

BinaryCopyRows::BinaryCopyRows(std::string& buffer, size_t expected_bytes) : buf_(buffer) {
  // Sized up front and written through a cursor: appending a few bytes at a time to a
  // std::string (two or three per field) was a third of rendering a row.
  // Not cleared: what is there is overwritten, and only new room gets zero-filled.
  if (buf_.size() < expected_bytes + 64) buf_.resize(expected_bytes + 64);
  static constexpr char kSignature[] = "PGCOPY\n\377\r\n";  // 11 bytes with its NUL
  static_assert(sizeof kSignature + 8 == kHeaderBytes);
  char* p = Room(sizeof kSignature + 8);
  std::memcpy(p, kSignature, sizeof kSignature);
  p = StoreBigEndian<int32_t>(p + sizeof kSignature, 0);  // flags: no OIDs
  StoreBigEndian<int32_t>(p, 0);                          // header extension length
}

char* BinaryCopyRows::Grow(size_t n) {
  buf_.resize(std::max(buf_.size() * 2, size_ + n + 4096));
  char* p = buf_.data() + size_;
  size_ += n;
  return p;
}

void BinaryCopyRows::BeginRow(int16_t fields) {
  StoreBigEndian(Room(2), fields);
  ++rows_;
  fields_ = 0;
}

char* BinaryCopyRows::Field(int32_t length, size_t bytes) {
  ++fields_;
  return StoreBigEndian(Room(4 + bytes), length);
}

void BinaryCopyRows::Null() { Field(-1, 0); }

void BinaryCopyRows::Bool(bool v) { *Field(1, 1) = v ? '\1' : '\0'; }

void BinaryCopyRows::Int2(int16_t v) { StoreBigEndian(Field(2, 2), v); }

void BinaryCopyRows::Int4(int32_t v) { StoreBigEndian(Field(4, 4), v); }

void BinaryCopyRows::Int8(int64_t v) { StoreBigEndian(Field(8, 8), v); }

void BinaryCopyRows::Float4(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  StoreBigEndian(Field(4, 4), u);
}

void BinaryCopyRows::Bytes(std::string_view v) {
  char* p = Field(static_cast<int32_t>(v.size()), v.size());
  if (!v.empty()) std::memcpy(p, v.data(), v.size());
}

bool BinaryCopyRows::Inet(const std::string& ip) {
  // inet_send: family (PGSQL_AF_INET 2, PGSQL_AF_INET6 3), prefix bits, is_cidr, length, address.
  unsigned char addr[16];
  char head[4];
  if (inet_pton(AF_INET, ip.c_str(), addr) == 1) {
    head[0] = 2, head[1] = 32, head[2] = 0, head[3] = 4;
  } else if (inet_pton(AF_INET6, ip.c_str(), addr) == 1) {
    head[0] = 3, head[1] = static_cast<char>(128), head[2] = 0, head[3] = 16;
  } else {
    return false;
  }
  const size_t n = 4 + static_cast<size_t>(head[3]);
  char* p = Field(static_cast<int32_t>(n), n);
  std::memcpy(p, head, 4);
  std::memcpy(p + 4, addr, n - 4);
  return true;
}

void BinaryCopyRows::TimestampMs(int64_t unix_ms) {
  Int8((unix_ms - kPgEpochUnixMs) * 1000);  // microseconds since PostgreSQL's epoch
}

template <typename Items>
void BinaryCopyRows::Array(uint32_t element_oid, const Items& items) {
  // array_send: dimensions, has-nulls flag, element type, then per dimension size and lower
  // bound (an empty array has no dimension), then each element with its length.
  size_t len = 12 + (items.empty() ? 0 : 8);
  for (const auto& s : items) len += 4 + s.size();
  char* p = Field(static_cast<int32_t>(len), len);
  p = StoreBigEndian<int32_t>(p, items.empty() ? 0 : 1);
  p = StoreBigEndian<int32_t>(p, 0);
  p = StoreBigEndian(p, element_oid);
  if (!items.empty()) {
    p = StoreBigEndian(p, static_cast<int32_t>(items.size()));
    p = StoreBigEndian<int32_t>(p, 1);
  }
  for (const auto& s : items) {
    p = StoreBigEndian(p, static_cast<int32_t>(s.size()));
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    p += s.size();
  }
}

void BinaryCopyRows::TextArray(const std::vector<std::string>& items) { Array(kTextOid, items); }

void BinaryCopyRows::ByteaArray(const std::vector<std::string_view>& items) {
  Array(kByteaOid, items);
}

std::string_view BinaryCopyRows::Finish() {
  if (!finished_) std::memcpy(Room(kTrailer.size()), kTrailer.data(), kTrailer.size());  // -1
  finished_ = true;
  return data();
}

BinaryCopyIn::BinaryCopyIn(pqxx::transaction_base& tx, const std::string& table,
                           const std::vector<std::string>& columns) {
  sql_ = "COPY " + table + " (";
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) sql_ += ", ";
    sql_ += columns[i];
  }
  sql_ += ") FROM STDIN (FORMAT binary)";
  tx.exec(sql_);  // leaves the connection in COPY IN state (libpqxx takes that as success)
  pg_ = tx.conn().*RawConnFieldOf();
}

BinaryCopyIn::~BinaryCopyIn() {
  if (ended_) return;
  // Abandoned (an exception, a bad row): fail the COPY and read the protocol back to idle, so
  // that the transaction can be rolled back on this connection.
  if (PQputCopyEnd(pg_, "abandoned by the client") == 1) {
    while (Result r{PQgetResult(pg_)}) {
    }
  }
}

void BinaryCopyIn::Send(std::string_view data) {
  // Blocking connection: returns once libpq has taken (or sent) everything. A server error in
  // the middle does not show here (libpq reads it at the end): the rest is discarded by the
  // server, and End() reports the error.
  if (!data.empty() && PQputCopyData(pg_, data.data(), static_cast<int>(data.size())) != 1) {
    ThrowFromConnection(pg_, sql_ + ": sending data");
  }
}

void BinaryCopyIn::End() {
  ended_ = true;
  if (PQputCopyEnd(pg_, nullptr) != 1) ThrowFromConnection(pg_, sql_ + ": ending");
  Result r(PQgetResult(pg_));
  if (!r) ThrowFromConnection(pg_, sql_ + ": no result");
  // Read the protocol to its end (the next command needs an idle connection).
  while (Result more{PQgetResult(pg_)}) {
  }
  if (PQresultStatus(r.get()) == PGRES_COMMAND_OK) return;
  const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
  const std::string msg = PQresultErrorMessage(r.get());
  if (state == nullptr) ThrowFromConnection(pg_, sql_);
  if (std::strcmp(state, "23505") == 0) throw pqxx::unique_violation(msg, sql_, state);
  // As libpqxx classes them when it runs a statement itself: a transaction the server rolled
  // back on its own can run again (WithSqlErrors).
  if (std::strcmp(state, "40P01") == 0) throw pqxx::deadlock_detected(msg);
  if (std::strcmp(state, "40001") == 0) throw pqxx::serialization_failure(msg);
  if (std::strncmp(state, "40", 2) == 0) throw pqxx::transaction_rollback(msg);
  // A value its column cannot take (a NUL in a text, a time out of range): the batch, not the
  // database, is at fault.
  if (std::strncmp(state, "22", 2) == 0) throw pqxx::data_exception(msg, sql_, state);
  throw pqxx::sql_error(msg, sql_, state);
}

void CopyBinary(pqxx::transaction_base& tx, const std::string& table,
                const std::vector<std::string>& columns, std::string_view data) {
  BinaryCopyIn copy(tx, table, columns);
  copy.Send(data);
  copy.End();
}

}  // namespace mxcensus::storage
