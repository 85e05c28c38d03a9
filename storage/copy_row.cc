#include "storage/copy_row.h"

#include <cstdio>

namespace mxcensus::storage {
namespace {

void AppendHex(std::string& out, std::string_view raw) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
}

}  // namespace

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
CopyWriter::CopyWriter(pqxx::transaction_base& tx, const std::string& table,
                       const std::vector<std::string>& columns)
    : writer_(std::make_unique<pqxx::tablewriter>(tx, table, columns.begin(), columns.end())) {}
#pragma GCC diagnostic pop

CopyWriter::~CopyWriter() = default;

void CopyWriter::WriteLine(const std::string& line) { writer_->write_raw_line(line); }

void CopyWriter::Complete() { writer_->complete(); }

void CopyRow::Separate() {
  if (fields_++ > 0) line_ += '\t';
}

CopyRow& CopyRow::Add(std::string v) {
  Separate();
  for (char c : v) {
    switch (c) {
      case '\\':
        line_ += "\\\\";
        break;
      case '\t':
        line_ += "\\t";
        break;
      case '\n':
        line_ += "\\n";
        break;
      case '\r':
        line_ += "\\r";
        break;
      default:
        line_ += c;
    }
  }
  return *this;
}

CopyRow& CopyRow::Add(double v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.3f", v);
  return Add(std::string(buf));
}

CopyRow& CopyRow::Null() {
  Separate();
  line_ += "\\N";
  return *this;
}

std::string TextArrayLiteral(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string ByteaLiteral(std::string_view raw) {
  std::string out = "\\x";
  AppendHex(out, raw);
  return out;
}

std::string ByteaArrayLiteral(const std::vector<std::string>& raw_items) {
  std::string out = "{";
  for (size_t i = 0; i < raw_items.size(); ++i) {
    if (i) out += ',';
    out += "\"\\\\x";  // inside a quoted array element a backslash is written twice
    AppendHex(out, raw_items[i]);
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace mxcensus::storage
