#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mxcensus::storage {

// `dsn` (a libpq URI "postgresql://..." or "key=value ..." string) with `password` added, so
// that the password can live in a file (a compose/Kubernetes secret) instead of the DSN or the
// environment. A DSN that already carries a password is an error: two sources would be
// ambiguous.
absl::StatusOr<std::string> DsnWithPassword(std::string_view dsn, std::string_view password);

}  // namespace mxcensus::storage
