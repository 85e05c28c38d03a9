// Fuzz target: the probe state machine driven by arbitrary server behaviour. The input is a
// program of events: op byte, then its operands (see the switch). Invariants: the result is
// delivered exactly once, nothing is written after it, no MAIL/RCPT/DATA is ever sent, and a
// bounded number of deadlines always ends the probe.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "tests/unit/probe/fake_transport.h"

using mxcensus::ProbeOutcome;
using mxcensus::TlsFacts;
using mxcensus::probe::ConnectResult;
using mxcensus::probe::testing::MachineHarness;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto options = MachineHarness::DefaultOptions();
  options.reply_limits.max_line = 128;
  options.reply_limits.max_lines = 16;
  options.max_bytes_per_probe = 4096;
  MachineHarness h(options);
  h.machine.Start(0);
  size_t i = 0;
  size_t writes_at_done = 0;
  while (i < size) {
    uint8_t op = data[i++] % 8;
    switch (op) {
      case 0:
      case 1:
      case 2: {  // server bytes: length byte, then bytes
        size_t n = i < size ? data[i++] : 0;
        if (n > size - i) n = size - i;
        h.machine.OnBytes(std::string_view(reinterpret_cast<const char*>(data + i), n));
        i += n;
        break;
      }
      case 3:
        h.machine.OnDeadline();
        break;
      case 4:
        h.machine.OnPeerClosed("eof");
        break;
      case 5: {
        TlsFacts f = MachineHarness::GoodTls();
        f.handshake_complete = i < size && (data[i++] & 1);
        h.machine.OnTlsDone(f);
        break;
      }
      case 6:
        h.machine.OnConnected(
            i < size && (data[i++] & 1) ? ConnectResult::kOk : ConnectResult::kRefused, "x");
        break;
      case 7:
        h.machine.OnConnected(ConnectResult::kOk, "");
        break;
    }
    if (h.done_calls == 1 && writes_at_done == 0) writes_at_done = h.transport.writes.size() + 1;
  }
  for (int k = 0; k < 10 && h.done_calls == 0; ++k) h.machine.OnDeadline();
  if (h.done_calls != 1) std::abort();
  if (h.transport.closes != 1) std::abort();
  if (writes_at_done != 0 && h.transport.writes.size() + 1 != writes_at_done) std::abort();
  for (const auto& w : h.transport.writes) {
    if (w.rfind("MAIL", 0) == 0 || w.rfind("RCPT", 0) == 0 || w.rfind("DATA", 0) == 0) {
      std::abort();
    }
  }
  if (h.result.outcome == ProbeOutcome::kStartTlsOk &&
      (!h.result.tls || !h.result.tls->handshake_complete)) {
    std::abort();
  }
  return 0;
}
