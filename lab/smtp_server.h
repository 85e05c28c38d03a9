#pragma once

#include <cstdint>

#include "lab/pki.h"
#include "lab/world.h"

namespace mxcensus::lab {

struct SmtpServeOptions {
  const World* world = nullptr;  // must outlive the call
  const Pki* pki = nullptr;      // must outlive the call
  uint32_t first_host = 0;       // this process serves hosts [first_host, end_host)
  uint32_t end_host = 0;
  int ready_fd = -1;  // receives "ready <listeners>\n" or "error <text>\n", then is closed
};

// Serves the SMTP hosts of a slice of the world on one libuv loop until SIGTERM or SIGINT:
// one listening socket per host address (none for connect_refused hosts), one connection state
// machine per accepted connection following its host's profile. Returns the exit code.
int ServeSmtpHosts(const SmtpServeOptions& options);

}  // namespace mxcensus::lab
