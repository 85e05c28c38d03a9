#pragma once

#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <pqxx/tablewriter>
#include <string>
#include <string_view>
#include <vector>

namespace mxcensus::storage {

// A COPY target. libpqxx 6.4's stream_to accepts only std::tuple rows and Debian's build lacks
// std::optional support, so rows are rendered here in COPY text format and written as raw data
// through tablewriter (deprecated in 6.4 but the only public raw writer). Rows are gathered in
// one buffer and sent in large pieces: one PQputCopyData per row cost more than the row itself.
class CopyWriter {
 public:
  CopyWriter(pqxx::transaction_base& tx, const std::string& table,
             const std::vector<std::string>& columns);
  ~CopyWriter();
  // Appends one rendered row (without its newline).
  void WriteLine(std::string_view line);
  // Sends what is buffered and ends the COPY; always call it before using the transaction again.
  void Complete();

 private:
  void Flush();
  std::unique_ptr<pqxx::tablewriter> writer_;
  std::string buffer_;  // whole rows, each ended by '\n'
};

// One row in COPY text format: fields tab-separated and escaped, \N for NULL.
class CopyRow {
 public:
  CopyRow& Add(std::string_view v);
  CopyRow& Add(const std::string& v) { return Add(std::string_view(v)); }
  CopyRow& Add(const char* v) { return Add(std::string_view(v)); }
  CopyRow& Add(int64_t v);
  CopyRow& Add(int v) { return Add(static_cast<int64_t>(v)); }
  CopyRow& Add(bool v) { return AddRaw(v ? "t" : "f"); }
  CopyRow& Add(double v);
  template <typename T>
  CopyRow& Add(const std::optional<T>& v) {
    return v ? Add(*v) : Null();
  }
  CopyRow& Null() { return AddRaw("\\N"); }
  // bytea in hex form (\x...), from raw bytes.
  CopyRow& AddBytea(std::string_view raw);
  // bytea[] from raw items: {"\\x..",...}.
  CopyRow& AddByteaArray(const std::vector<std::string_view>& raw_items);
  // A field already in COPY text form (no escaping).
  CopyRow& AddRaw(std::string_view v) {
    Separate();
    line_.append(v);
    return *this;
  }
  int fields() const { return fields_; }
  // Writes the row. The row can be Clear()ed and reused.
  void WriteTo(CopyWriter& w) { w.WriteLine(line_); }
  void Clear() {
    line_.clear();
    fields_ = 0;
  }

 private:
  void Separate() {
    if (fields_++ > 0) line_ += '\t';
  }
  std::string line_;
  int fields_ = 0;
};

// PostgreSQL array literal of text elements: {"a","b\"c"}.
std::string TextArrayLiteral(const std::vector<std::string>& items);

}  // namespace mxcensus::storage
