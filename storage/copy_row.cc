#include "storage/copy_row.h"

#include <charconv>
#include <cstring>

namespace mxcensus::storage {
namespace {

// Rows are sent to the server in pieces of about this size.
constexpr size_t kFlushBytes = 1 << 20;

void AppendHex(std::string& out, std::string_view raw) {
  static constexpr char kHex[] = "0123456789abcdef";
  const size_t at = out.size();
  out.resize(at + 2 * raw.size());
  char* p = out.data() + at;
  for (unsigned char c : raw) {
    *p++ = kHex[c >> 4];
    *p++ = kHex[c & 15];
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

void CopyWriter::WriteLine(std::string_view line) {
  buffer_.append(line);
  buffer_ += '\n';
  if (buffer_.size() >= kFlushBytes) Flush();
}

void CopyWriter::Flush() {
  if (buffer_.empty()) return;
  // write_raw_line appends the newline of the last row itself; the server does not care how
  // COPY data is cut into messages.
  buffer_.pop_back();
  writer_->write_raw_line(buffer_);
  buffer_.clear();
}

void CopyWriter::Complete() {
  Flush();
  writer_->complete();
}

CopyRow& CopyRow::Add(std::string_view v) {
  Separate();
  // Most values need no escaping: copy runs between special characters in one go.
  size_t start = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    const char* esc = nullptr;
    switch (c) {
      case '\\':
        esc = "\\\\";
        break;
      case '\t':
        esc = "\\t";
        break;
      case '\n':
        esc = "\\n";
        break;
      case '\r':
        esc = "\\r";
        break;
      default:
        continue;
    }
    line_.append(v.substr(start, i - start));
    line_.append(esc);
    start = i + 1;
  }
  line_.append(v.substr(start));
  return *this;
}

CopyRow& CopyRow::Add(int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return AddRaw(std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
}

CopyRow& CopyRow::Add(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 3);
  if (r.ec != std::errc()) r = std::to_chars(buf, buf + sizeof buf, v);  // huge: exponent form
  return AddRaw(std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
}

CopyRow& CopyRow::AddBytea(std::string_view raw) {
  Separate();
  line_ += "\\\\x";  // the bytea hex prefix \x, its backslash escaped for COPY
  AppendHex(line_, raw);
  return *this;
}

CopyRow& CopyRow::AddByteaArray(const std::vector<std::string_view>& raw_items) {
  Separate();
  line_ += '{';
  for (size_t i = 0; i < raw_items.size(); ++i) {
    if (i) line_ += ',';
    // A quoted array element writes the backslash of \x twice, and COPY doubles each again.
    line_ += "\"\\\\\\\\x";
    AppendHex(line_, raw_items[i]);
    line_ += '"';
  }
  line_ += '}';
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

}  // namespace mxcensus::storage
