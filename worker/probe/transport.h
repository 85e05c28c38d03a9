#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mxcensus::probe {

// How a TCP connect ended.
enum class ConnectResult : uint8_t { kOk, kRefused, kFailed };

// The probe machine's only view of the network (the leveldb Env / Envoy TransportSocket seam).
// The real one is worker/net/uv_transport.h (libuv + OpenSSL over memory BIOs); unit tests and
// the fuzz target use a fake. Contract for implementations:
// - No event is delivered to the machine from inside one of these calls; events arrive later,
//   from the loop (no re-entrant completions).
// - After StartTls(), bytes written with Write() are encrypted, and the machine's OnBytes()
//   receives decrypted application data; the handshake's end is reported by OnTlsDone().
// - After Close(), no further event reaches the machine.
class Transport {
 public:
  virtual ~Transport() = default;

  // Starts the TCP connect; completion arrives as ProbeMachine::OnConnected().
  virtual void Connect() = 0;
  // Queues bytes to the peer. A write failure shows up later as OnPeerClosed().
  virtual void Write(std::string_view bytes) = 0;
  // Starts the TLS client handshake with SNI `sni` (empty: no SNI).
  virtual void StartTls(const std::string& sni) = 0;
  // (Re-)arms the single deadline: OnDeadline() fires `ms` from now unless re-armed first.
  virtual void ArmDeadline(uint32_t ms) = 0;
  // Ends the session (best effort flush of queued bytes, then close).
  virtual void Close() = 0;
  // Monotonic time in microseconds.
  virtual uint64_t NowUs() = 0;
};

}  // namespace mxcensus::probe
