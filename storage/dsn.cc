#include "storage/dsn.h"

#include <libpq-fe.h>

#include <memory>

#include "absl/status/status.h"
#include "common/fn_deleter.h"

namespace mxcensus::storage {
namespace {

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// key=value values in single quotes, with \ and ' escaped (libpq's conninfo syntax).
std::string QuoteValue(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace

absl::StatusOr<std::string> DsnWithPassword(std::string_view dsn, std::string_view password) {
  if (password.empty()) return absl::InvalidArgumentError("the database password is empty");
  // Parse first: a malformed DSN gets libpq's own message, and a password already in it is found
  // whatever the syntax.
  char* err = nullptr;
  std::unique_ptr<PQconninfoOption, FnDeleter<PQconninfoFree>> opts(
      PQconninfoParse(std::string(dsn).c_str(), &err));
  if (!opts) {
    std::string msg = err != nullptr ? err : "cannot parse";
    PQfreemem(err);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    return absl::InvalidArgumentError("database DSN: " + msg);
  }
  for (auto* o = opts.get(); o->keyword != nullptr; ++o) {
    if (std::string_view(o->keyword) == "password" && o->val != nullptr && *o->val != '\0') {
      return absl::InvalidArgumentError(
          "the database DSN already has a password; remove it or the password file");
    }
  }
  std::string out(dsn);
  if (out.rfind("postgresql://", 0) == 0 || out.rfind("postgres://", 0) == 0) {
    out += out.find('?') == std::string::npos ? '?' : '&';
    return out + "password=" + PercentEncode(password);
  }
  return out + (out.empty() ? "" : " ") + "password=" + QuoteValue(password);
}

}  // namespace mxcensus::storage
