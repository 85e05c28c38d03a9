#pragma once

#include <cstdint>
#include <string>

#include "lab/world.h"

namespace mxcensus::lab {

struct LabOptions {
  WorldOptions world;
  std::string out_dir;
  std::string dns_ip = "127.0.0.1";
  uint16_t dns_port = 5353;
  int procs = 0;  // serving processes; 0 = max(2, ceil(hosts / 6000)), at most one per host
};

// The number of serving processes `RunLab` uses for these options.
int ServingProcesses(const LabOptions& options);

// Runs `mxcensus lab`: builds the world, the certificates and the files in out_dir, forks the
// serving processes (each owns a contiguous slice of hosts), serves DNS itself, prints exactly
// one "ready ..." line on stdout once every listener is up, forwards SIGINT/SIGTERM to the
// children and returns 0 after they have exited. Errors go to stderr as one line; the return
// value is then non-zero (2 for bad input or an address in use, 1 for a failure while serving).
int RunLab(const LabOptions& options);

}  // namespace mxcensus::lab
