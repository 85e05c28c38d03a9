#include "lab/smtp_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "lab/smtp_conn.h"

namespace mxcensus::lab {
namespace internal {

SmtpServer::SmtpServer(uv_loop_t* loop, const SmtpServeOptions& options,
                       std::unique_ptr<ServerTls> tls)
    : loop_(loop), options_(options), tls_(std::move(tls)) {
  uv_timer_init(loop_, &resume_timer_);
  resume_timer_.data = this;
}

absl::StatusOr<size_t> SmtpServer::Listen() {
  const World& w = *options_.world;
  const size_t span = options_.end_host - options_.first_host;
  listeners_ = std::make_unique<Listener[]>(span);
  for (uint32_t i = options_.first_host; i < options_.end_host; ++i) {
    const Host& h = w.hosts[i];
    if (h.profile == Profile::kConnectRefused) continue;  // nothing listens: ECONNREFUSED
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return absl::ResourceExhaustedError(absl::StrCat("socket: ", strerror(errno)));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(w.options.port);
    sa.sin_addr.s_addr = htonl(h.ip);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(fd, 1024) != 0) {
      int err = errno;
      close(fd);
      return absl::UnavailableError(absl::StrCat("cannot listen on ", Ipv4String(h.ip), ":",
                                                 w.options.port, ": ", strerror(err)));
    }
    Listener* l = &listeners_[listener_count_++];
    l->server = this;
    l->host = &h;
    l->fd = fd;
    l->poll.data = l;
    int rc = uv_poll_init(loop_, &l->poll, fd);
    if (rc == 0) rc = uv_poll_start(&l->poll, UV_READABLE, OnListenerEvent);
    if (rc != 0) return absl::InternalError(absl::StrCat("uv_poll: ", uv_err_name(rc)));
  }
  return listener_count_;
}

void SmtpServer::OnListenerEvent(uv_poll_t* h, int status, int /*events*/) {
  auto* l = static_cast<Listener*>(h->data);
  if (status < 0) return;
  l->server->Accept(l);
}

void SmtpServer::OnResumeTimer(uv_timer_t* t) {
  auto* s = static_cast<SmtpServer*>(t->data);
  for (Listener* l : s->paused_) {
    l->paused = false;
    uv_poll_start(&l->poll, UV_READABLE, OnListenerEvent);
  }
  s->paused_.clear();
}

void SmtpServer::Accept(Listener* l) {
  for (int n = 0; n < 64; ++n) {
    int fd = accept4(l->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: stop accepting on this address for a moment instead of spinning;
        // the clients wait in the backlog.
        if (!l->paused) {
          l->paused = true;
          uv_poll_stop(&l->poll);
          paused_.push_back(l);
          if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&resume_timer_))) {
            uv_timer_start(&resume_timer_, OnResumeTimer, 200, 0);
          }
        }
      }
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    Conn* c;
    if (!pool_.empty()) {
      c = pool_.back();
      pool_.pop_back();
    } else {
      c = new Conn();
    }
    c->server = this;
    c->host = l->host;
    c->fd = fd;
    c->ssl = nullptr;
    c->greeted = c->want_write = c->drain_after_flush = false;
    c->commands = c->line_len = 0;
    c->bulk_sent = 0;
    c->out.clear();
    c->poll.data = c;
    c->timer.data = c;
    if (uv_poll_init(loop_, &c->poll, fd) != 0) {
      close(fd);
      pool_.push_back(c);
      continue;
    }
    uv_timer_init(loop_, &c->timer);
    c->open_handles = 2;
    c->state = ConnState::kCommands;
    c->poll_events = UV_READABLE;
    uv_poll_start(&c->poll, UV_READABLE, OnConnEvent);
    OnAccepted(c);
  }
}

void SmtpServer::UpdatePoll(Conn* c) {
  if (c->state == ConnState::kClosing) return;
  const int events = UV_READABLE | (c->want_write ? UV_WRITABLE : 0);
  if (events == c->poll_events) return;  // each change costs an epoll_ctl
  c->poll_events = static_cast<uint8_t>(events);
  uv_poll_start(&c->poll, events, OnConnEvent);
}

void SmtpServer::ArmTimer(Conn* c, uint64_t ms) {
  if (c->state == ConnState::kClosing) return;
  uv_timer_start(&c->timer, OnConnTimer, ms, 0);
}

void SmtpServer::OnConnTimer(uv_timer_t* t) {
  auto* c = static_cast<Conn*>(t->data);
  c->server->OnTimer(c);
}

void SmtpServer::OnConnEvent(uv_poll_t* h, int status, int events) {
  auto* c = static_cast<Conn*>(h->data);
  SmtpServer* s = c->server;
  if (status < 0) {
    s->Close(c);
    return;
  }
  if ((events & UV_WRITABLE) != 0) {
    if (c->state == ConnState::kTlsHandshake) {
      s->DoHandshake(c);
    } else {
      s->Flush(c);
    }
  }
  if ((events & UV_READABLE) != 0 && c->state != ConnState::kClosing) s->OnReadable(c);
}

void SmtpServer::OnReadable(Conn* c) {
  switch (c->state) {
    case ConnState::kTlsHandshake:
      DoHandshake(c);
      return;
    case ConnState::kTlsCommands:
      TlsRead(c);
      return;
    case ConnState::kClosing:
      return;
    case ConnState::kGreetDelay:
    case ConnState::kSilent:
    case ConnState::kCommands:
    case ConnState::kAwaitClientHello:
    case ConnState::kBulk:
    case ConnState::kHold:
    case ConnState::kDraining:
      break;
  }
  ssize_t n = recv(c->fd, read_buf_, sizeof read_buf_, 0);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    Close(c);  // the client left (or reset)
    return;
  }
  if (n < 0) return;
  if (c->state == ConnState::kCommands && !c->drain_after_flush) {
    FeedLines(c, read_buf_, static_cast<size_t>(n));
  } else if (c->state == ConnState::kAwaitClientHello) {
    OnClientHello(c);
  }
  // Every other state discards what the client sends.
}

void SmtpServer::FeedLines(Conn* c, const char* data, size_t n) {
  const ConnState entry = c->state;
  while (n > 0 && c->state == entry && !c->drain_after_flush) {
    const char* nl = static_cast<const char*>(memchr(data, '\n', n));
    size_t take = nl != nullptr ? static_cast<size_t>(nl - data) + 1 : n;
    if (c->line_len + take > kMaxLine) {
      c->line_len = 0;
      Send(c, "500 5.5.2 Error: line too long\r\n");
      BeginDrain(c);
      return;
    }
    memcpy(c->line + c->line_len, data, take);
    c->line_len = static_cast<uint16_t>(c->line_len + take);
    data += take;
    n -= take;
    if (nl == nullptr) return;
    std::string_view line(c->line, c->line_len - 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    c->line_len = 0;
    OnLine(c, line);
  }
  // Bytes after a STARTTLS line (a client that does not wait for the 220) cannot be handed to
  // a socket-level SSL; they are dropped, and that client's handshake fails.
}

void SmtpServer::Send(Conn* c, std::string_view data) {
  if (c->state == ConnState::kClosing || data.empty()) return;
  if (!c->out.empty()) {
    c->out.append(data);
    return;
  }
  if (c->state == ConnState::kTlsCommands) {
    ERR_clear_error();
    int n = SSL_write(c->ssl, data.data(), static_cast<int>(data.size()));
    if (n > 0) return;  // partial writes are off: all of it
    int err = SSL_get_error(c->ssl, n);
    if (err != SSL_ERROR_WANT_WRITE && err != SSL_ERROR_WANT_READ) {
      ERR_clear_error();
      Close(c);
      return;
    }
    c->out.assign(data);
  } else {
    ssize_t n = send(c->fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      Close(c);
      return;
    }
    size_t sent = n > 0 ? static_cast<size_t>(n) : 0;
    if (sent == data.size()) return;
    c->out.assign(data.substr(sent));
  }
  c->want_write = true;
  UpdatePoll(c);
}

void SmtpServer::Flush(Conn* c) {
  while (!c->out.empty()) {
    if (c->state == ConnState::kTlsCommands) {
      ERR_clear_error();
      int n = SSL_write(c->ssl, c->out.data(), static_cast<int>(c->out.size()));
      if (n <= 0) {
        int err = SSL_get_error(c->ssl, n);
        if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) return;
        ERR_clear_error();
        Close(c);
        return;
      }
      c->out.erase(0, static_cast<size_t>(n));
    } else {
      ssize_t n = send(c->fd, c->out.data(), c->out.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        Close(c);
        return;
      }
      c->out.erase(0, static_cast<size_t>(n));
    }
  }
  if (c->state == ConnState::kBulk) {
    std::string_view bulk = EndlessEhloReply();
    while (c->bulk_sent < bulk.size()) {
      ssize_t n = send(c->fd, bulk.data() + c->bulk_sent, bulk.size() - c->bulk_sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
          c->want_write = true;
          UpdatePoll(c);
          return;
        }
        Close(c);
        return;
      }
      c->bulk_sent += static_cast<size_t>(n);
    }
    c->want_write = false;
    UpdatePoll(c);
    OnBulkDone(c);
    return;
  }
  c->want_write = false;
  UpdatePoll(c);
  if (c->drain_after_flush) FinishDrainStart(c);
}

void SmtpServer::BeginDrain(Conn* c) {
  if (c->state == ConnState::kClosing || c->state == ConnState::kDraining) return;
  c->drain_after_flush = true;
  if (c->out.empty()) FinishDrainStart(c);
}

void SmtpServer::FinishDrainStart(Conn* c) {
  c->drain_after_flush = false;
  if (c->ssl != nullptr && c->state == ConnState::kTlsCommands) {
    ERR_clear_error();
    SSL_shutdown(c->ssl);  // close_notify; the client's answer is not awaited
    ERR_clear_error();
  }
  // A lingering close: half-close, then wait for the client's FIN so that our last reply is
  // never destroyed by a RST (closing with unread input would send one).
  shutdown(c->fd, SHUT_WR);
  c->state = ConnState::kDraining;
  ArmTimer(c, kDrainMs);
}

void SmtpServer::StartTls(Conn* c) {
  c->ssl = tls_->NewSession(*c->host, c->fd);
  if (c->ssl == nullptr) {
    Close(c);
    return;
  }
  c->state = ConnState::kTlsHandshake;
  c->line_len = 0;
  ArmTimer(c, kIdleMs);
}

void SmtpServer::DoHandshake(Conn* c) {
  ERR_clear_error();
  int rc = SSL_do_handshake(c->ssl);
  if (rc == 1) {
    c->state = ConnState::kTlsCommands;
    c->want_write = false;
    UpdatePoll(c);
    ArmTimer(c, kIdleMs);
    TlsRead(c);  // the client's first command may already sit in the last record read
    return;
  }
  switch (SSL_get_error(c->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
      if (c->want_write) {
        c->want_write = false;
        UpdatePoll(c);
      }
      return;
    case SSL_ERROR_WANT_WRITE:
      c->want_write = true;
      UpdatePoll(c);
      return;
    default:
      ERR_clear_error();  // a failed handshake is the client's business; just hang up
      Close(c);
      return;
  }
}

void SmtpServer::TlsRead(Conn* c) {
  while (c->state == ConnState::kTlsCommands && !c->drain_after_flush) {
    ERR_clear_error();
    int n = SSL_read(c->ssl, read_buf_, sizeof read_buf_);
    if (n > 0) {
      FeedLines(c, read_buf_, static_cast<size_t>(n));
      continue;
    }
    int err = SSL_get_error(c->ssl, n);
    if (err == SSL_ERROR_WANT_READ) return;
    if (err == SSL_ERROR_WANT_WRITE) {
      c->want_write = true;
      UpdatePoll(c);
      return;
    }
    ERR_clear_error();
    if (err == SSL_ERROR_ZERO_RETURN) {
      BeginDrain(c);
    } else {
      Close(c);
    }
    return;
  }
}

void SmtpServer::Close(Conn* c) {
  if (c->state == ConnState::kClosing) return;
  c->state = ConnState::kClosing;
  if (c->ssl != nullptr) {
    SSL_free(c->ssl);  // SSL_set_fd's socket BIO does not close the descriptor
    c->ssl = nullptr;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&c->poll), OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), OnHandleClosed);
}

void SmtpServer::OnHandleClosed(uv_handle_t* h) {
  auto* c = static_cast<Conn*>(h->data);
  if (--c->open_handles != 0) return;
  close(c->fd);
  c->fd = -1;
  c->server->pool_.push_back(c);
}

}  // namespace internal

namespace {

void OnStopSignal(uv_signal_t* s, int /*signum*/) { uv_stop(s->loop); }

void Report(int fd, const std::string& line) {
  if (fd < 0) return;
  ssize_t ignored = write(fd, line.data(), line.size());
  (void)ignored;
  close(fd);
}

}  // namespace

int ServeSmtpHosts(const SmtpServeOptions& options) {
  // Descriptors: one per listening host plus every connection.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  (void)internal::EndlessEhloReply();  // built before serving
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto tls = ServerTls::Create(*options.pki);
  if (!tls.ok()) {
    Report(options.ready_fd, absl::StrCat("error ", tls.status().message(), "\n"));
    return 1;
  }
  // Parse this slice's leaves now (each decodes a public key, ~100-200 us): paid once before
  // "ready" by all serving processes in parallel, not by the first probe of every host.
  for (uint32_t i = options.first_host; i < options.end_host; ++i) {
    if (Info(options.world->hosts[i].profile).cert_kind != CertKind::kNone &&
        options.pki->leaf(i) == nullptr) {
      Report(options.ready_fd, absl::StrCat("error cannot parse the leaf of host ", i, "\n"));
      return 1;
    }
  }
  auto server = std::make_unique<internal::SmtpServer>(&loop, options, *std::move(tls));
  auto listening = server->Listen();
  if (!listening.ok()) {
    Report(options.ready_fd, absl::StrCat("error ", listening.status().message(), "\n"));
    return 1;
  }
  // Only the supervisor's SIGTERM stops a serving process. A Ctrl-C reaches the whole process
  // group; the supervisor forwards it, so that it never mistakes the children's exit for a
  // crash.
  signal(SIGINT, SIG_IGN);
  uv_signal_t sigterm;
  uv_signal_init(&loop, &sigterm);
  uv_signal_start(&sigterm, OnStopSignal, SIGTERM);
  Report(options.ready_fd, absl::StrCat("ready ", *listening, "\n"));
  uv_run(&loop, UV_RUN_DEFAULT);
  // Stopped by a signal. The process exits right after this: the kernel closes the sockets
  // (walking and closing 20,000 handles first would only delay the shutdown).
  return 0;
}

}  // namespace mxcensus::lab
