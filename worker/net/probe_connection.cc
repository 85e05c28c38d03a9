#include "worker/net/probe_connection.h"

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "worker/tls/session_facts.h"

namespace mxcensus::net {
namespace {

// A write that could not complete at once: owns its bytes until the callback.
struct WriteReq {
  uv_write_t req;
  ProbeConnection* self;
  std::string data;
};

}  // namespace

ProbeConnection::ProbeConnection(LoopShared* shared, const sockaddr_storage& peer,
                                 ClosedFn on_closed, void* closed_arg)
    : shared_(shared), on_closed_(on_closed), closed_arg_(closed_arg), peer_(peer) {
  // Neither call can fail for a valid loop (no socket is created before connect).
  uv_tcp_init(shared_->loop, &tcp_);
  uv_timer_init(shared_->loop, &timer_);
  tcp_.data = this;
  timer_.data = this;
  connect_req_.data = this;
  open_handles_ = 2;
}

uint64_t ProbeConnection::NowUs() { return uv_hrtime() / 1000; }

void ProbeConnection::Defer(Deferred what, std::string detail) {
  if (deferred_ != Deferred::kNone) return;  // the first problem is the one reported
  deferred_ = what;
  deferred_detail_ = std::move(detail);
  uv_timer_start(&timer_, &ProbeConnection::OnTimer, 0, 0);
}

void ProbeConnection::Connect() {
  int rc = uv_tcp_connect(&connect_req_, &tcp_, reinterpret_cast<const sockaddr*>(&peer_),
                          &ProbeConnection::OnConnect);
  if (rc != 0) {
    // The callback will never run: finish through the timer (EMFILE, EADDRNOTAVAIL, ...).
    Defer(Deferred::kConnectFailed, uv_err_name(rc));
    return;
  }
  uv_tcp_nodelay(&tcp_, 1);
}

void ProbeConnection::OnConnect(uv_connect_t* req, int status) {
  auto* self = static_cast<ProbeConnection*>(req->data);
  if (status == UV_ECANCELED || self->closed_) return;
  if (status != 0) {
    self->machine_->OnConnected(
        status == UV_ECONNREFUSED ? probe::ConnectResult::kRefused : probe::ConnectResult::kFailed,
        uv_err_name(status));
    return;
  }
  int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&self->tcp_), &ProbeConnection::OnAlloc,
                         &ProbeConnection::OnRead);
  if (rc != 0) {
    self->machine_->OnConnected(probe::ConnectResult::kFailed, uv_err_name(rc));
    return;
  }
  self->reading_ = true;
  self->machine_->OnConnected(probe::ConnectResult::kOk, "");
}

void ProbeConnection::OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* self = static_cast<ProbeConnection*>(h->data);
  buf->base = self->shared_->read_buf.get();
  buf->len = self->shared_->read_buf_size;
}

void ProbeConnection::OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<ProbeConnection*>(s->data);
  if (self->closed_ || nread == 0) return;
  if (nread < 0) {
    uv_read_stop(s);
    self->reading_ = false;
    self->machine_->OnPeerClosed(nread == UV_EOF ? "eof" : uv_err_name(static_cast<int>(nread)));
    return;
  }
  self->HandleBytes(std::string_view(buf->base, static_cast<size_t>(nread)));
}

void ProbeConnection::HandleBytes(std::string_view data) {
  if (!tls_) {
    machine_->OnBytes(data);
    return;
  }
  if (!tls_done_) {
    HandleHandshakeBytes(data);
    return;
  }
  std::string plain;
  bool ok = tls_->ReadPlain(data, &plain);
  FlushTls();
  if (!plain.empty() && !closed_) machine_->OnBytes(plain);
  if (!ok && !closed_) machine_->OnPeerClosed("tls: " + tls_->error());
}

void ProbeConnection::HandleHandshakeBytes(std::string_view data) {
  tls::TlsClient::Step step = tls_->FeedHandshake(data);
  switch (step) {
    case tls::TlsClient::Step::kWantMore:
      FlushTls();
      return;
    case tls::TlsClient::Step::kComplete:
      // TLS 1.3: our Finished is still in the write BIO. It leaves together with the machine's
      // first command inside TLS (EHLO or QUIT), in one write and one segment instead of two;
      // FinishHandshake flushes it whatever the machine does.
      FinishHandshake(true);
      return;
    case tls::TlsClient::Step::kFailed:
      FlushTls();  // an alert, if OpenSSL queued one
      FinishHandshake(false);
      return;
  }
}

void ProbeConnection::FinishHandshake(bool complete) {
  tls_done_ = complete;
  TlsFacts facts;
  facts.handshake_complete = complete;
  tls::CollectSessionFacts(tls_->ssl(), &facts);
  shared_->verifier->Fill(tls_->ssl(), sni_, &facts);
  if (!complete) facts.alert = tls_->error().empty() ? "handshake failed" : tls_->error();
  ++shared_->tls_handshakes;
  machine_->OnTlsDone(std::move(facts));
  if (!complete || closed_) return;
  // Application data that came with the last handshake flight.
  std::string plain;
  bool ok = tls_->ReadPlain("", &plain);
  FlushTls();
  if (!plain.empty() && !closed_) machine_->OnBytes(plain);
  if (!ok && !closed_) machine_->OnPeerClosed("tls: " + tls_->error());
}

void ProbeConnection::Write(std::string_view bytes) {
  if (closed_) return;
  if (on_first_write_) {
    ClosedFn fn = on_first_write_;
    on_first_write_ = nullptr;
    fn(closed_arg_);
  }
  if (tls_) {
    if (!tls_done_ || !tls_->WritePlain(bytes)) {
      Defer(Deferred::kPeerClosed, "tls write: " + tls_->error());
      return;
    }
    FlushTls();
    return;
  }
  RawWrite(bytes);
}

void ProbeConnection::FlushTls() {
  std::string& out = shared_->scratch;
  out.clear();
  if (tls_->TakeOutput(&out) > 0) RawWrite(out);
}

void ProbeConnection::RawWrite(std::string_view bytes) {
  if (closed_ || bytes.empty()) return;
  uv_buf_t buf = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
  int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1);
  if (n == static_cast<int>(bytes.size())) return;
  if (n < 0 && n != UV_EAGAIN) {
    Defer(Deferred::kPeerClosed, uv_err_name(n));
    return;
  }
  size_t done = n > 0 ? static_cast<size_t>(n) : 0;
  auto* w = new WriteReq;
  w->data.assign(bytes.substr(done));
  w->req.data = w;
  w->self = this;
  uv_buf_t rest = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp_), &rest, 1,
                    [](uv_write_t* req, int status) {
                      auto* wr = static_cast<WriteReq*>(req->data);
                      // Cancelled writes run before the close callback: `self` is alive.
                      if (status < 0 && status != UV_ECANCELED) wr->self->OnWriteError(status);
                      delete wr;
                    });
  if (rc != 0) {
    delete w;
    Defer(Deferred::kPeerClosed, uv_err_name(rc));
  }
}

void ProbeConnection::OnWriteError(int status) {
  if (!closed_) Defer(Deferred::kPeerClosed, uv_err_name(status));
}

void ProbeConnection::StartTls(const std::string& sni) {
  sni_ = sni;
  auto client = tls::TlsClient::Create(shared_->ssl_ctx, sni);
  if (!client.ok()) {
    Defer(Deferred::kTlsFailed, std::string(client.status().message()));
    return;
  }
  tls_ = *std::move(client);
  tls_done_ = false;
  tls::TlsClient::Step step = tls_->Start();
  FlushTls();
  if (step == tls::TlsClient::Step::kFailed) {
    Defer(Deferred::kTlsFailed, tls_->error());
  }
}

void ProbeConnection::ArmDeadline(uint32_t ms) {
  if (closed_) return;
  // A deferred event keeps its zero-delay timer.
  if (deferred_ != Deferred::kNone) return;
  // uv_timer_start counts from the same cached loop time.
  deadline_due_ms_ = uv_now(shared_->loop) + ms;
  deadline_ms_ = ms;
  deadline_extended_ = false;
  uv_timer_start(&timer_, &ProbeConnection::OnTimer, ms, 0);
}

bool ProbeConnection::AnswerWaiting() const {
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd) != 0) return false;
  if (!reading_) {
    // Still connecting: the handshake may have completed without the loop having seen it.
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    return getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0;
  }
  int unread = 0;
  return ioctl(fd, FIONREAD, &unread) == 0 && unread > 0;
}

bool ProbeConnection::ExtendDeadline() {
  if (deadline_extended_) return false;
  const uint64_t now = uv_now(shared_->loop);
  const uint64_t late = now > deadline_due_ms_ ? now - deadline_due_ms_ : 0;
  uint64_t more_ms = 0;
  if (late >= kLoopStallMs) {
    // The whole timeout again, from now: how much of the first one the loop watched is unknown
    // (the stall may have begun just after the deadline was armed). What the peer sent meanwhile
    // is read by this turn's poll, which runs after the timers; a silent peer times out later.
    more_ms = std::max<uint32_t>(1, deadline_ms_);
  } else if (AnswerWaiting()) {
    // The answer came before we looked, but after the loop's last poll (a stall that ended
    // less than kLoopStallMs after the deadline, or a busy turn): one poll reads it.
    more_ms = 1;
  } else {
    return false;
  }
  deadline_extended_ = true;
  ++shared_->deadlines_extended;
  uv_timer_start(&timer_, &ProbeConnection::OnTimer, more_ms, 0);
  return true;
}

void ProbeConnection::OnTimer(uv_timer_t* t) {
  auto* self = static_cast<ProbeConnection*>(t->data);
  if (self->closed_) return;
  Deferred what = self->deferred_;
  self->deferred_ = Deferred::kNone;
  switch (what) {
    case Deferred::kNone:
      if (self->ExtendDeadline()) return;
      self->machine_->OnDeadline();
      return;
    case Deferred::kConnectFailed:
      self->machine_->OnConnected(probe::ConnectResult::kFailed, self->deferred_detail_);
      return;
    case Deferred::kPeerClosed:
      self->machine_->OnPeerClosed(self->deferred_detail_);
      return;
    case Deferred::kTlsFailed: {
      TlsFacts facts;
      facts.alert = self->deferred_detail_;
      self->machine_->OnTlsDone(std::move(facts));
      return;
    }
  }
}

void ProbeConnection::Close() {
  if (closed_) return;
  closed_ = true;
  tls_.reset();  // the SSL object's memory goes now, not when the handles are closed
  if (reading_) uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &ProbeConnection::OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &ProbeConnection::OnHandleClosed);
}

void ProbeConnection::OnHandleClosed(uv_handle_t* h) {
  auto* self = static_cast<ProbeConnection*>(h->data);
  if (--self->open_handles_ == 0) self->on_closed_(self->closed_arg_);
}

}  // namespace mxcensus::net
