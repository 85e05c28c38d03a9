#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <istream>
#include <string>

#include "absl/status/statusor.h"
#include "common/outcome.h"
#include "worker/probe/engine.h"

namespace mxcensus::net {

// The standalone prober behind `mxcensus probe`: N loop threads, each with its own ProbeEngine
// (sharing one SSL_CTX and one ChainVerifier), fed from a ZGrab2-style input stream, writing
// one JSON line per target. Targets are spread over the threads by their /24 (/48), so the
// per-address and per-prefix caps hold across threads; the global rate is split evenly.
struct ProbeRunOptions {
  probe::ProbeEngineOptions engine;  // per-thread copy; `rate` and `concurrency` are totals
  int threads = 1;
  std::string input_name = "-";  // for messages: "<input_name>:<line>: ..."
  bool progress = false;         // a live progress line on stderr (on a terminal)
};

struct ProbeRunSummary {
  uint64_t targets = 0;     // valid input lines
  uint64_t bad_lines = 0;   // reported and skipped
  uint64_t results = 0;     // JSON lines written
  uint64_t not_probed = 0;  // left when interrupted (SIGINT/SIGTERM)
  std::array<uint64_t, kProbeOutcomeCount> by_outcome{};
  double seconds = 0;
  double cpu_seconds = 0;  // user + system of the whole process
  uint64_t tls_handshakes = 0;
  uint64_t moved_to_slow = 0;       // probes that moved to the slow budget (tarpits, blackholes)
  uint64_t deadlines_extended = 0;  // given more time: a stall, or an answer not yet read
  bool interrupted = false;
};

// Runs every target of `in` and writes results to `out`. Bad lines are reported on stderr
// ("mxcensus: error: <input>:<line>: <why>") and skipped. Returns our own failures only
// (e.g. the CA file cannot be read); remote behaviour is in the results.
absl::StatusOr<ProbeRunSummary> RunProbes(const ProbeRunOptions& options, std::istream& in,
                                          std::FILE* out);

// Prints the end-of-run summary by outcome (stderr in the CLI).
void PrintSummary(const ProbeRunSummary& s, std::FILE* to);

}  // namespace mxcensus::net
