#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/probe_result.h"
#include "common/smtp/reply_parser.h"
#include "worker/probe/transport.h"

namespace mxcensus::probe {

// Per-stage deadlines in milliseconds (the CLI's --connect-timeout etc.).
struct ProbeTimeouts {
  uint32_t connect_ms = 10000;
  uint32_t banner_ms = 30000;
  uint32_t command_ms = 30000;  // EHLO, HELO, STARTTLS and EHLO inside TLS
  uint32_t tls_ms = 15000;
  uint32_t quit_ms = 2000;
};

// Shared, immutable configuration of many machines (one copy per engine).
struct ProbeMachineOptions {
  ProbeTimeouts timeouts;
  std::string ehlo_name = "localhost";
  smtp::ReplyLimits reply_limits;
  size_t max_bytes_per_probe = 256 * 1024;  // plaintext and TLS application bytes received
  bool ehlo_over_tls = true;                // send EHLO again inside TLS and record it
};

enum class ProbeState : uint8_t {
  kIdle,
  kConnecting,
  kAwaitBanner,
  kEhloSent,
  kHeloSent,
  kStartTlsSent,
  kTlsHandshake,
  kTlsEhloSent,
  kQuitSent,
  kDone,
};
std::string_view ProbeStateName(ProbeState s);

// One SMTP/STARTTLS probe as an explicit state machine:
// CONNECT → BANNER → EHLO (→ HELO) → STARTTLS → TLS_HANDSHAKE → EHLO_OVER_TLS → QUIT.
// Pure: it sees only Transport (no libuv, no OpenSSL), so tests drive it byte by byte.
// Inputs are the On*() events; outputs are Transport calls and exactly one ProbeResult handed
// to `done` (from inside an event handler, never from the constructor). Never sends MAIL FROM.
// Single-threaded: all calls on one thread. `*options` and `*transport` must outlive this.
class ProbeMachine {
 public:
  using DoneFn = std::function<void(ProbeResult&&)>;
  ProbeMachine(const ProbeMachineOptions* options, Transport* transport, ProbeResult seed,
               DoneFn done);
  ProbeMachine(const ProbeMachine&) = delete;
  ProbeMachine& operator=(const ProbeMachine&) = delete;

  // Starts the connect (records started_at from `unix_ms`).
  void Start(int64_t unix_ms);
  void OnConnected(ConnectResult result, std::string_view detail);
  void OnBytes(std::string_view bytes);
  // EOF or a read/write error (`detail` names it, e.g. "eof", "ECONNRESET").
  void OnPeerClosed(std::string_view detail);
  void OnDeadline();
  // The TLS handshake ended; `facts.handshake_complete` says how.
  void OnTlsDone(TlsFacts facts);

  ProbeState state() const { return state_; }
  bool done() const { return state_ == ProbeState::kDone; }

 private:
  void TransitionTo(ProbeState next);
  void HandleReply(smtp::Reply reply, std::string_view rest);
  void OnBanner(const smtp::Reply& reply);
  void OnEhloReply(const smtp::Reply& reply);
  void OnHeloReply(const smtp::Reply& reply);
  void OnStartTlsReply(const smtp::Reply& reply, std::string_view rest);
  void OnTlsEhloReply(const smtp::Reply& reply);
  // Sends QUIT; the probe ends with `outcome` whatever QUIT gets.
  void QuitWith(ProbeOutcome outcome);
  // Ends the probe for a reason found in the current state (timeout, close, garbage).
  void Abort(ProbeOutcome outcome, std::string detail);
  void Finish(ProbeOutcome outcome, std::optional<std::string> detail);
  void SendCommand(std::string_view command);
  uint32_t DeadlineFor(ProbeState s) const;

  const ProbeMachineOptions* options_;
  Transport* transport_;
  DoneFn done_;
  ProbeResult result_;
  smtp::ReplyParser parser_;
  ProbeState state_ = ProbeState::kIdle;
  ProbeOutcome pending_ = ProbeOutcome::kNoStartTls;  // the outcome decided before QUIT
  // A rejection keeps the stage that rejected us even though QUIT is still sent.
  std::optional<ProbeStage> final_stage_;
  uint64_t start_us_ = 0;
  uint64_t stage_start_us_ = 0;
  size_t bytes_received_ = 0;
};

}  // namespace mxcensus::probe
