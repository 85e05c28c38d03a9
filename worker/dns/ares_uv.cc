#include "worker/dns/ares_uv.h"

#include <algorithm>
#include <mutex>

namespace mxcensus::dns {

// A uv_poll_t watching one c-ares socket; freed in its close callback.
struct AresUvChannel::Poll {
  uv_poll_t handle;
  AresUvChannel* owner;
  ares_socket_t fd;
};

namespace {

void InitLibraryOnce() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

}  // namespace

AresUvChannel::AresUvChannel(uv_loop_t* loop) : loop_(loop) {}

absl::StatusOr<std::unique_ptr<AresUvChannel>> AresUvChannel::Create(
    uv_loop_t* loop, const Options& options, std::function<void()> after_io) {
  InitLibraryOnce();
  std::unique_ptr<AresUvChannel> ch(new AresUvChannel(loop));
  ch->after_io_ = std::move(after_io);
  ares_options o{};
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS |
             ARES_OPT_EDNSPSZ | ARES_OPT_LOOKUPS | ARES_OPT_SOCK_RCVBUF;
  o.sock_state_cb = &AresUvChannel::OnSocketState;
  o.sock_state_cb_data = ch.get();
  o.timeout = std::max(1, options.timeout_ms);
  o.tries = std::max(1, options.tries);
  // NOSEARCH: names are absolute; EDNS: 1232-byte UDP answers (DNS flag day 2020) before TCP.
  // NOCHECKRESP: a SERVFAIL or REFUSED answer is a result to record. Without it c-ares 1.18
  // "skips" the server and, with no other server left, reports ARES_ECONNREFUSED ("could not
  // contact DNS servers"), losing the rcode (verified against unbound).
  o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_EDNS | ARES_FLAG_NOCHECKRESP;
  o.ednspsz = 1232;
  o.lookups = const_cast<char*>("b");  // DNS only, never /etc/hosts
  o.socket_receive_buffer_size = options.rcvbuf_bytes;
  int rc = ares_init_options(&ch->channel_, &o, mask);
  if (rc != ARES_SUCCESS) {
    return absl::InternalError(std::string("ares_init_options: ") + ares_strerror(rc));
  }
  if (!options.servers_csv.empty()) {
    rc = ares_set_servers_ports_csv(ch->channel_, options.servers_csv.c_str());
    if (rc != ARES_SUCCESS) {
      ares_destroy(ch->channel_);
      ch->channel_ = nullptr;
      return absl::InvalidArgumentError("bad resolver address '" + options.servers_csv +
                                        "': " + ares_strerror(rc));
    }
  }
  rc = uv_timer_init(loop, &ch->timer_);
  if (rc != 0) {
    ares_destroy(ch->channel_);
    ch->channel_ = nullptr;
    return absl::InternalError(std::string("uv_timer_init: ") + uv_err_name(rc));
  }
  ch->timer_.data = ch.get();
  ch->timer_open_ = true;
  ++ch->open_handles_;
  return ch;
}

AresUvChannel::~AresUvChannel() {
  // Close() must have run: a live uv handle inside freed memory would corrupt the loop.
  if (open_handles_ != 0 || channel_ != nullptr) std::abort();
}

void AresUvChannel::Query(const std::string& name, int type, AresRequest* req) {
  if (channel_ == nullptr) {
    req->OnReply(QueryReply{ARES_EDESTRUCTION, 0, {}});
    return;
  }
  ++in_flight_;
  req->channel_ = this;
  ares_query(channel_, name.c_str(), 1 /* class IN */, type, &AresUvChannel::OnAnswer, req);
}

void AresUvChannel::OnAnswer(void* arg, int status, int timeouts, unsigned char* abuf, int alen) {
  auto* req = static_cast<AresRequest*>(arg);
  --req->channel_->in_flight_;
  QueryReply reply;
  reply.status = status;
  reply.timeouts = timeouts;
  if (abuf != nullptr && alen > 0) reply.message = {abuf, static_cast<size_t>(alen)};
  req->OnReply(reply);  // may free `req`
}

void AresUvChannel::OnSocketState(void* data, ares_socket_t fd, int readable, int writable) {
  auto* self = static_cast<AresUvChannel*>(data);
  auto it = self->polls_.find(fd);
  if (readable || writable) {
    Poll* poll = nullptr;
    if (it == self->polls_.end()) {
      poll = new Poll{{}, self, fd};
      if (uv_poll_init_socket(self->loop_, &poll->handle, fd) != 0) {
        delete poll;  // c-ares will time the query out; nothing else can be done here
        return;
      }
      poll->handle.data = poll;
      ++self->open_handles_;
      self->polls_.emplace(fd, poll);
    } else {
      poll = it->second;
    }
    uv_poll_start(&poll->handle, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
                  &AresUvChannel::OnPoll);
    return;
  }
  // (fd, 0, 0) arrives before c-ares closes the socket: stop watching it now.
  if (it == self->polls_.end()) return;
  Poll* poll = it->second;
  self->polls_.erase(it);
  uv_poll_stop(&poll->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll->handle), [](uv_handle_t* h) {
    auto* p = static_cast<Poll*>(h->data);
    AresUvChannel* owner = p->owner;
    delete p;
    owner->HandleClosed();
  });
}

void AresUvChannel::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* poll = static_cast<Poll*>(handle->data);
  AresUvChannel* self = poll->owner;
  ares_socket_t fd = poll->fd;
  if (status < 0) {
    // Let c-ares see the error on the socket (it reads, gets the errno, and retries elsewhere).
    ares_process_fd(self->channel_, fd, fd);
  } else {
    ares_process_fd(self->channel_, (events & UV_READABLE) ? fd : ARES_SOCKET_BAD,
                    (events & UV_WRITABLE) ? fd : ARES_SOCKET_BAD);
  }
  self->AfterIo();
}

void AresUvChannel::OnTimer(uv_timer_t* handle) {
  auto* self = static_cast<AresUvChannel*>(handle->data);
  ares_process_fd(self->channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  self->AfterIo();
}

void AresUvChannel::AfterIo() {
  if (closing_) return;
  if (after_io_) after_io_();
  ArmTimer();
}

void AresUvChannel::ArmTimer() {
  if (closing_ || !timer_open_) return;
  if (in_flight_ == 0) {
    uv_timer_stop(&timer_);  // an idle resolver must not keep the loop alive
    return;
  }
  timeval max_tv{1, 0};
  timeval tv{};
  timeval* t = ares_timeout(channel_, &max_tv, &tv);
  uint64_t ms = static_cast<uint64_t>(t->tv_sec) * 1000 + (t->tv_usec + 999) / 1000;
  uv_timer_start(&timer_, &AresUvChannel::OnTimer, std::max<uint64_t>(ms, 1), 0);
}

void AresUvChannel::Close(std::function<void()> on_closed) {
  if (closing_) return;
  closing_ = true;
  on_closed_ = std::move(on_closed);
  if (channel_ != nullptr) {
    ares_destroy(channel_);  // pending queries: ARES_EDESTRUCTION; sockets: (fd, 0, 0)
    channel_ = nullptr;
  }
  if (timer_open_) {
    timer_open_ = false;
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_),
             [](uv_handle_t* h) { static_cast<AresUvChannel*>(h->data)->HandleClosed(); });
  }
  if (open_handles_ == 0 && on_closed_) {
    auto done = std::move(on_closed_);
    done();
  }
}

void AresUvChannel::HandleClosed() {
  --open_handles_;
  if (closing_ && open_handles_ == 0 && on_closed_) {
    auto done = std::move(on_closed_);
    done();
  }
}

}  // namespace mxcensus::dns
