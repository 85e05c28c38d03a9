#pragma once

#include <csignal>

namespace mxcensus::cli {

// Blocks SIGINT and SIGTERM in the calling thread (call before starting threads, so every
// thread inherits the mask) and returns the set; WaitForSignal() then waits for one of them.
sigset_t BlockTerminationSignals();
int WaitForSignal(const sigset_t& set);

}  // namespace mxcensus::cli
