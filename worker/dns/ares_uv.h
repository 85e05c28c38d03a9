#pragma once

// One c-ares 1.18 channel driven by a libuv loop: the socket-state callback opens a uv_poll_t per
// c-ares socket, and one uv_timer_t is re-armed from ares_timeout() after every batch of work
// (INTEGRATION.md §4, Envoy's cares dns_impl). Loop thread only.

#include <ares.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>

#include "absl/status/statusor.h"

namespace mxcensus::dns {

// The outcome of one query as c-ares reports it.
struct QueryReply {
  int status = ARES_SUCCESS;         // ARES_SUCCESS, ARES_ENODATA, ARES_ENOTFOUND, ARES_ETIMEOUT...
  int timeouts = 0;                  // attempts that timed out (each one was retried or final)
  std::span<const uint8_t> message;  // the raw response; empty when none arrived. Valid only
                                     // during the callback.
};

class AresUvChannel;

// One query in flight: the caller's per-query object derives from it and must stay alive until
// OnReply() has run (exactly once). No allocation per query beyond the caller's object.
class AresRequest {
 public:
  virtual ~AresRequest() = default;
  virtual void OnReply(const QueryReply& reply) = 0;

 private:
  friend class AresUvChannel;
  AresUvChannel* channel_ = nullptr;
};

class AresUvChannel {
 public:
  struct Options {
    std::string servers_csv;  // "ip:port,[ip6]:port"; empty: the system's (/etc/resolv.conf)
    int timeout_ms = 2000;    // first attempt; c-ares doubles it on each retry to one server
    int tries = 3;
    int rcvbuf_bytes = 4 << 20;
  };
  // `after_io` runs after every batch of c-ares processing (poll or timer event), outside any
  // c-ares callback: the owner starts queued queries there. `*loop` must outlive the channel.
  static absl::StatusOr<std::unique_ptr<AresUvChannel>> Create(uv_loop_t* loop,
                                                               const Options& options,
                                                               std::function<void()> after_io);
  // REQUIRES: Close() was called and its `on_closed` has run (or Create's handles never opened).
  ~AresUvChannel();
  AresUvChannel(const AresUvChannel&) = delete;
  AresUvChannel& operator=(const AresUvChannel&) = delete;

  // Starts a class-IN query. `req->OnReply` runs exactly once: usually later from the loop, but
  // c-ares may run it synchronously for local failures (bad name, out of memory), so callers
  // must not re-enter their own scheduling from it. On shutdown it sees ARES_EDESTRUCTION.
  void Query(const std::string& name, int type, AresRequest* req);
  int in_flight() const { return in_flight_; }
  // Re-arms the timer from ares_timeout() (O(queries pending) in c-ares 1.18): call once after a
  // batch of Query() calls made outside after_io.
  void ArmTimer();

  // Destroys the c-ares channel (pending queries get ARES_EDESTRUCTION) and closes every handle;
  // `on_closed` runs from the last close callback. Must not be called from a c-ares callback.
  void Close(std::function<void()> on_closed);

 private:
  struct Poll;
  explicit AresUvChannel(uv_loop_t* loop);

  static void OnSocketState(void* data, ares_socket_t fd, int readable, int writable);
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnTimer(uv_timer_t* handle);
  static void OnAnswer(void* arg, int status, int timeouts, unsigned char* abuf, int alen);
  void AfterIo();
  void HandleClosed();

  uv_loop_t* loop_;
  ares_channel channel_ = nullptr;
  uv_timer_t timer_;
  bool timer_open_ = false;
  std::unordered_map<ares_socket_t, Poll*> polls_;
  std::function<void()> after_io_;
  std::function<void()> on_closed_;
  int in_flight_ = 0;
  int open_handles_ = 0;
  bool closing_ = false;
};

}  // namespace mxcensus::dns
