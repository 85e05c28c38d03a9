#pragma once

#include <string>

namespace mxcensus::net {

// The host's fully qualified name for EHLO: gethostname(), canonicalised with getaddrinfo
// (AI_CANONNAME), falling back to the bare host name, then "localhost". Note: the lookup goes
// through the system resolver (nsswitch: /etc/hosts first); pass --ehlo to avoid it.
std::string DefaultEhloName();

}  // namespace mxcensus::net
