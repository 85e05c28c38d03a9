#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "worker/probe/probe_machine.h"
#include "worker/probe/transport.h"
#include "worker/tls/chain_verifier.h"
#include "worker/tls/tls_client.h"

namespace mxcensus::net {

// What all connections of one loop share: the loop, the handshake context, the verifier and
// one read buffer (each read is consumed before the next one starts, so one buffer suffices).
struct LoopShared {
  uv_loop_t* loop = nullptr;
  SSL_CTX* ssl_ctx = nullptr;
  tls::ChainVerifier* verifier = nullptr;
  std::unique_ptr<char[]> read_buf;
  size_t read_buf_size = 0;
  std::string scratch;  // TLS output staging, reused
  uint64_t tls_handshakes = 0;
  uint64_t deadlines_extended = 0;  // deadlines given more time (ProbeConnection::ExtendDeadline)
};

// A deadline timer that fires this long after its due time measured the worker's own absence
// (SIGSTOP, a paused VM, a starved or blocked loop), not the peer's silence: libuv runs due
// timers before it polls, so the peer's reply may already wait unread in the socket.
inline constexpr uint64_t kLoopStallMs = 500;

// The real probe::Transport: one TCP connection on a libuv loop, with TLS over memory BIOs once
// the machine asks for it. Owns its uv handles; when Close() has run and both handles are
// closed, calls `on_closed(closed_arg)`, after which the owner may free this object (not
// before). Loop thread only. `*shared` must outlive this.
class ProbeConnection final : public probe::Transport {
 public:
  using ClosedFn = void (*)(void* arg);
  ProbeConnection(LoopShared* shared, const sockaddr_storage& peer, ClosedFn on_closed,
                  void* closed_arg);
  ProbeConnection(const ProbeConnection&) = delete;
  ProbeConnection& operator=(const ProbeConnection&) = delete;

  // The machine receiving this connection's events; must be set before Connect().
  void Attach(probe::ProbeMachine* machine) { machine_ = machine; }
  // Called once, with `closed_arg`, at the machine's first Write (the probe got past waiting:
  // it sends EHLO after the greeting, or QUIT). Null: none.
  void OnFirstWrite(ClosedFn fn) { on_first_write_ = fn; }

  void Connect() override;
  void Write(std::string_view bytes) override;
  void StartTls(const std::string& sni) override;
  void ArmDeadline(uint32_t ms) override;
  void Close() override;
  uint64_t NowUs() override;

 private:
  // An event found synchronously (inside one of the calls above) and delivered from the timer
  // on the next loop turn, so the machine never sees a re-entrant completion.
  enum class Deferred : uint8_t { kNone, kConnectFailed, kPeerClosed, kTlsFailed };

  static void OnConnect(uv_connect_t* req, int status);
  static void OnAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void OnTimer(uv_timer_t* t);
  static void OnHandleClosed(uv_handle_t* h);
  void HandleBytes(std::string_view data);
  void HandleHandshakeBytes(std::string_view data);
  void FinishHandshake(bool complete);
  void RawWrite(std::string_view bytes);
  void FlushTls();
  void Defer(Deferred what, std::string detail);
  // At a deadline, once per armed deadline: re-arms it with its whole timeout if it fired
  // kLoopStallMs or more late (the process stood still), or for one poll if the peer's answer
  // is already waiting unread. Returns whether it did; if not, the deadline has passed.
  bool ExtendDeadline();
  // Bytes in the socket that the loop has not read, or (connecting) an established connection.
  bool AnswerWaiting() const;

 public:
  // Called by a failed asynchronous write.
  void OnWriteError(int status);

 private:
  LoopShared* shared_;
  probe::ProbeMachine* machine_ = nullptr;
  ClosedFn on_closed_;
  ClosedFn on_first_write_ = nullptr;
  void* closed_arg_;
  uv_tcp_t tcp_;
  uv_timer_t timer_;
  uv_connect_t connect_req_;
  sockaddr_storage peer_;
  std::unique_ptr<tls::TlsClient> tls_;
  std::string sni_;
  std::string deferred_detail_;
  Deferred deferred_ = Deferred::kNone;
  uint64_t deadline_due_ms_ = 0;  // loop time at which the armed deadline is due
  uint32_t deadline_ms_ = 0;
  bool deadline_extended_ = false;  // once per armed deadline, so a deadline always ends
  bool tls_done_ = false;
  bool closed_ = false;
  bool reading_ = false;
  uint8_t open_handles_ = 0;
};

}  // namespace mxcensus::net
