#pragma once
// COPY in PostgreSQL's binary format, for the hot ingest path: the server reads length-prefixed
// fields with the types' receive functions instead of splitting text lines and parsing every
// value (the text COPY of probe rows spent half its server time there).

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <vector>

namespace mxcensus::storage {

// Rows of a binary COPY, built in one buffer. The caller must write each field in the exact
// type of its column (int2 for smallint, float4 for real, ...): receive functions take no casts.
class BinaryCopyRows {
 public:
  // Builds in `buffer` (its contents are overwritten and its memory kept, so a caller that
  // keeps one buffer for its batches does not allocate, fault in or zero fresh memory for
  // each), starting with the format's header. `expected_bytes` sizes it up front: growing by
  // copies cost as much as filling. The data is the first size() bytes of `buffer`; the rest
  // is room kept for the next user (not shrunk, so that it is not zero-filled again).
  BinaryCopyRows(std::string& buffer, size_t expected_bytes);
  void BeginRow(int16_t fields);
  void Null();
  void Bool(bool v);
  void Int2(int16_t v);
  void Int4(int32_t v);
  void Int8(int64_t v);
  void Float4(float v);
  // text, varchar, an enum label, or bytea (raw bytes): all are the bytes themselves.
  void Bytes(std::string_view v);
  // inet from its text form; false (and nothing written) when it is not an IPv4/IPv6 address.
  bool Inet(const std::string& ip);
  // timestamptz from Unix milliseconds.
  void TimestampMs(int64_t unix_ms);
  void TextArray(const std::vector<std::string>& items);
  void ByteaArray(const std::vector<std::string_view>& items);
  template <typename T, typename Fn>
  void Optional(const std::optional<T>& v, Fn&& write) {
    if (v) {
      write(*v);
    } else {
      Null();
    }
  }
  int rows() const { return rows_; }
  size_t size() const { return size_; }
  std::string_view data() const { return std::string_view(buf_.data(), size_); }
  int fields_in_row() const { return fields_; }  // fields written since the last BeginRow
  // The data to send: header, rows and the trailer (appended once). No rows can follow.
  std::string_view Finish();
  // The format's header, at the start of the data, and its trailer, after the last row: rows
  // rendered once can be sent again framed on their own, as another COPY.
  static constexpr size_t kHeaderBytes = 19;
  static constexpr std::string_view kTrailer{"\377\377", 2};

 private:
  // `n` bytes at the end of the data, to write into.
  char* Room(size_t n) {
    if (size_ + n > buf_.size()) return Grow(n);
    char* p = buf_.data() + size_;
    size_ += n;
    return p;
  }
  char* Grow(size_t n);
  // A field's length, and room for its `bytes` after it.
  char* Field(int32_t length, size_t bytes);
  template <typename Items>
  void Array(uint32_t element_oid, const Items& items);
  std::string& buf_;  // [0, size_) is the data; the rest is room already allocated
  size_t size_ = 0;
  int rows_ = 0;
  int fields_ = 0;
  bool finished_ = false;
};

// A running `COPY <table> (<columns>) FROM STDIN (FORMAT binary)` in `tx`. Data can be sent in
// pieces as it is produced, so that the server parses and inserts while the rest is built.
// The server's errors come back from End() as libpqxx's exceptions (pqxx::unique_violation for
// a duplicate key, pqxx::transaction_rollback's kinds for a deadlock or serialization failure,
// else pqxx::sql_error with its SQLSTATE), a lost server as pqxx::broken_connection. `table` and
// `columns` go into the statement unquoted: our names only.
class BinaryCopyIn {
 public:
  BinaryCopyIn(pqxx::transaction_base& tx, const std::string& table,
               const std::vector<std::string>& columns);
  // Not ended: the COPY is failed on purpose (the transaction is then aborted).
  ~BinaryCopyIn();
  BinaryCopyIn(const BinaryCopyIn&) = delete;
  BinaryCopyIn& operator=(const BinaryCopyIn&) = delete;
  void Send(std::string_view data);
  void End();

 private:
  pqxx::internal::pq::PGconn* pg_;
  std::string sql_;
  bool ended_ = false;
};

// The whole COPY at once: `data` from BinaryCopyRows::Finish.
void CopyBinary(pqxx::transaction_base& tx, const std::string& table,
                const std::vector<std::string>& columns, std::string_view data);

}  // namespace mxcensus::storage
