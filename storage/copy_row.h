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
// std::optional support, so rows are rendered here in COPY text format and written as raw lines
// through tablewriter (deprecated in 6.4 but the only public raw-line writer).
class CopyWriter {
 public:
  CopyWriter(pqxx::transaction_base& tx, const std::string& table,
             const std::vector<std::string>& columns);
  ~CopyWriter();
  void WriteLine(const std::string& line);
  // Ends the COPY; always call it before using the transaction again.
  void Complete();

 private:
  std::unique_ptr<pqxx::tablewriter> writer_;
};

// One row in COPY text format: fields tab-separated and escaped, \N for NULL.
class CopyRow {
 public:
  CopyRow& Add(std::string v);
  CopyRow& Add(std::string_view v) { return Add(std::string(v)); }
  CopyRow& Add(const char* v) { return Add(std::string(v)); }
  CopyRow& Add(int64_t v) { return Add(std::to_string(v)); }
  CopyRow& Add(int v) { return Add(std::to_string(v)); }
  CopyRow& Add(bool v) { return Add(std::string(v ? "t" : "f")); }
  CopyRow& Add(double v);
  template <typename T>
  CopyRow& Add(const std::optional<T>& v) {
    return v ? Add(*v) : Null();
  }
  CopyRow& Null();
  int fields() const { return fields_; }
  // Writes the row. The row can be Clear()ed and reused.
  void WriteTo(CopyWriter& w) { w.WriteLine(line_); }
  void Clear() {
    line_.clear();
    fields_ = 0;
  }

 private:
  void Separate();
  std::string line_;
  int fields_ = 0;
};

// PostgreSQL array literal of text elements: {"a","b\"c"}.
std::string TextArrayLiteral(const std::vector<std::string>& items);
// PostgreSQL array literal of bytea elements given as raw bytes: {"\\xab01",...}.
std::string ByteaArrayLiteral(const std::vector<std::string>& raw_items);
// bytea text form of raw bytes: \xab01...
std::string ByteaLiteral(std::string_view raw);

}  // namespace mxcensus::storage
