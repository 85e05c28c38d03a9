#pragma once

#include <cstddef>

namespace mxcensus::net {

// One socket per probe in flight: the descriptor limit bounds concurrency. These keep the probe
// engines (`probe`, `worker`, `scan`) within it instead of failing with EMFILE mid-crawl.

// Descriptors kept for files, DNS, gRPC and the database beside the probes' sockets.
inline constexpr size_t kReservedDescriptors = 500;

// Raises the soft descriptor limit to the hard one (systemd's default soft limit is 1024).
void RaiseDescriptorLimit();

// Sockets one process may hold for probes: the hard limit less kReservedDescriptors.
size_t ProbeSocketCeiling();

}  // namespace mxcensus::net
