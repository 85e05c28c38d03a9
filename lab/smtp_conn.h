#pragma once

// Internal to lab/: the serving process's connection state and server class, shared by
// smtp_server.cc (sockets, I/O, TLS plumbing) and smtp_session.cc (the SMTP dialogue).

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lab/server_tls.h"
#include "lab/smtp_server.h"

namespace mxcensus::lab::internal {

inline constexpr size_t kMaxLine = 1024;            // RFC 5321 allows 512; we accept 1 KiB
inline constexpr int kMaxCommands = 64;             // per session
inline constexpr uint64_t kIdleMs = 60000;          // idle timeout (never for the tarpit)
inline constexpr uint64_t kDrainMs = 10000;         // lingering close: wait for the client's FIN
inline constexpr uint64_t kGreetingDelayMs = 2000;  // slow_banner

// One connection's state machine (transitions are in smtp_session.cc).
enum class ConnState : uint8_t {
  kGreetDelay,        // slow_banner: greeting timer running
  kSilent,            // tarpit: never speaks, reads and discards until the client leaves
  kCommands,          // plain-text SMTP commands
  kTlsHandshake,      // after 220 to STARTTLS: SSL_do_handshake on the socket
  kTlsCommands,       // SMTP inside TLS
  kAwaitClientHello,  // tls_garbage / tls_alert: wait for the ClientHello, then misbehave
  kBulk,              // ehlo_1mib: writing the endless reply
  kHold,              // ehlo_1mib: reply written, holds the connection (idle timeout)
  kDraining,          // our side is shut down; discard input until the client closes
  kClosing,           // handles closing; nothing may touch the connection
};

class SmtpServer;

struct Conn {
  uv_poll_t poll;
  uv_timer_t timer;
  SmtpServer* server = nullptr;
  const Host* host = nullptr;
  int fd = -1;
  SSL* ssl = nullptr;  // owned; created at the 220 to STARTTLS
  ConnState state = ConnState::kCommands;
  uint8_t open_handles = 0;
  bool greeted = false;     // EHLO or HELO accepted
  bool want_write = false;  // poll for writability
  uint8_t poll_events = 0;  // the events uv_poll is started with
  bool drain_after_flush = false;
  uint16_t commands = 0;
  uint16_t line_len = 0;
  size_t bulk_sent = 0;
  std::string out;  // bytes not yet accepted by the kernel (or by SSL_write in TLS states)
  char line[kMaxLine];
};

struct Listener {
  uv_poll_t poll;
  SmtpServer* server = nullptr;
  const Host* host = nullptr;
  int fd = -1;
  bool paused = false;
};

class SmtpServer {
 public:
  SmtpServer(uv_loop_t* loop, const SmtpServeOptions& options, std::unique_ptr<ServerTls> tls);
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;

  // Binds and listens on every host of the slice; returns the listener count or an error.
  absl::StatusOr<size_t> Listen();

  // I/O primitives (smtp_server.cc). Send writes now when it can and keeps only the rest.
  void Send(Conn* c, std::string_view data);
  void BeginDrain(Conn* c);
  void Close(Conn* c);
  void ArmTimer(Conn* c, uint64_t ms);
  void UpdatePoll(Conn* c);
  void StartTls(Conn* c);
  uv_loop_t* loop() const { return loop_; }

  // The dialogue (smtp_session.cc).
  void OnAccepted(Conn* c);
  void OnTimer(Conn* c);
  void OnLine(Conn* c, std::string_view line);
  void OnClientHello(Conn* c);
  void OnBulkDone(Conn* c);

 private:
  static void OnListenerEvent(uv_poll_t* h, int status, int events);
  static void OnConnEvent(uv_poll_t* h, int status, int events);
  static void OnConnTimer(uv_timer_t* t);
  static void OnHandleClosed(uv_handle_t* h);
  static void OnResumeTimer(uv_timer_t* t);
  void Accept(Listener* l);
  void OnReadable(Conn* c);
  void Flush(Conn* c);
  void DoHandshake(Conn* c);
  void TlsRead(Conn* c);
  void FeedLines(Conn* c, const char* data, size_t n);
  void FinishDrainStart(Conn* c);

  uv_loop_t* loop_;
  SmtpServeOptions options_;
  std::unique_ptr<ServerTls> tls_;
  std::unique_ptr<Listener[]> listeners_;
  size_t listener_count_ = 0;
  std::vector<Conn*> pool_;  // closed connections kept for reuse: no malloc per connection
  std::vector<Listener*> paused_;
  uv_timer_t resume_timer_;
  std::string scratch_;   // replies are built here; Send() copies only what the kernel refuses
  char read_buf_[16384];  // one read buffer per loop: data is consumed synchronously
};

// The 1 MiB of "250-" lines of the ehlo_1mib profile (built once, shared by all connections).
std::string_view EndlessEhloReply();

}  // namespace mxcensus::lab::internal
