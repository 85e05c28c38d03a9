#include "lab/dns_server.h"

#include <netinet/in.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace mxcensus::lab {
namespace {

constexpr int kMaxTcpConns = 512;
constexpr uint64_t kTcpIdleMs = 10000;
constexpr size_t kMaxTcpBuffer = 2 * (65535 + 2);

struct WriteReq {
  uv_write_t req;
  std::string data;
};

}  // namespace

struct DnsServer::TcpConn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  DnsServer* server = nullptr;
  std::string in;
  int open_handles = 2;
  bool closing = false;
  TcpConn* prev = nullptr;
  TcpConn* next = nullptr;
};

absl::StatusOr<std::unique_ptr<DnsServer>> DnsServer::Start(uv_loop_t* loop, const Zone* zone,
                                                            const std::string& ip, uint16_t port) {
  std::unique_ptr<DnsServer> s(new DnsServer(loop, zone));
  sockaddr_in sa{};
  int rc = uv_ip4_addr(ip.c_str(), port, &sa);
  if (rc != 0) return absl::InvalidArgumentError(absl::StrCat("--dns: bad address ", ip));
  auto fail = [&](const char* what, int code) {
    // The handles live inside `s`: let the loop finish closing them before `s` is freed.
    s->Close();
    uv_run(loop, UV_RUN_NOWAIT);
    return absl::UnavailableError(
        absl::StrCat("DNS ", what, " on ", ip, ":", port, ": ", uv_strerror(code)));
  };
  uv_udp_init(loop, &s->udp_);
  s->udp_open_ = true;
  s->udp_.data = s.get();
  if ((rc = uv_udp_bind(&s->udp_, reinterpret_cast<const sockaddr*>(&sa), 0)) != 0) {
    return fail("UDP bind", rc);
  }
  int size = 4 << 20;  // absorb bursts of thousands of queries
  uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(&s->udp_), &size);
  size = 4 << 20;
  uv_send_buffer_size(reinterpret_cast<uv_handle_t*>(&s->udp_), &size);
  if ((rc = uv_udp_recv_start(&s->udp_, Alloc, OnUdpRecv)) != 0) return fail("UDP", rc);
  uv_tcp_init(loop, &s->tcp_);
  s->tcp_open_ = true;
  s->tcp_.data = s.get();
  if ((rc = uv_tcp_bind(&s->tcp_, reinterpret_cast<const sockaddr*>(&sa), 0)) != 0 ||
      (rc = uv_listen(reinterpret_cast<uv_stream_t*>(&s->tcp_), 256, OnTcpConnection)) != 0) {
    return fail("TCP listen", rc);
  }
  return s;
}

DnsServer::~DnsServer() { Close(); }

void DnsServer::Close() {
  if (udp_open_) {
    udp_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&udp_), nullptr);
  }
  if (tcp_open_) {
    tcp_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
  }
  while (conns_ != nullptr) {
    TcpConn* c = conns_;
    CloseConn(c);
  }
}

void DnsServer::Alloc(uv_handle_t* h, size_t /*suggested*/, uv_buf_t* buf) {
  // One buffer for every read: each datagram or TCP chunk is consumed before the next read.
  auto* self = static_cast<DnsServer*>(h->data);
  *buf = uv_buf_init(self->buf_, sizeof self->buf_);
}

void DnsServer::OnUdpRecv(uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* addr,
                          unsigned /*flags*/) {
  auto* self = static_cast<DnsServer*>(h->data);
  if (n <= 0 || addr == nullptr) return;
  ++self->udp_queries_;
  std::span<const uint8_t> msg(reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(n));
  if (self->zone_->Answer(msg, false, &self->answer_) != Zone::Action::kReply) return;
  uv_buf_t out = uv_buf_init(self->answer_.data(), static_cast<unsigned>(self->answer_.size()));
  // A full socket buffer drops the answer, as a busy server's would: the client retries.
  (void)uv_udp_try_send(h, &out, 1, addr);
}

void DnsServer::OnTcpConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<DnsServer*>(server->data);
  if (status < 0) return;
  auto* c = new TcpConn();
  c->server = self;
  uv_tcp_init(self->loop_, &c->tcp);
  uv_timer_init(self->loop_, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->next = self->conns_;
  if (self->conns_ != nullptr) self->conns_->prev = c;
  self->conns_ = c;
  ++self->tcp_conns_;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0 ||
      self->tcp_conns_ > kMaxTcpConns) {
    self->CloseConn(c);
    return;
  }
  uv_timer_start(
      &c->timer,
      [](uv_timer_t* t) {
        auto* conn = static_cast<TcpConn*>(t->data);
        conn->server->CloseConn(conn);
      },
      kTcpIdleMs, 0);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->tcp),
      [](uv_handle_t* h, size_t, uv_buf_t* b) {
        DnsServer* owner = static_cast<TcpConn*>(h->data)->server;
        *b = uv_buf_init(owner->buf_, sizeof owner->buf_);
      },
      OnTcpRead);
}

void DnsServer::OnTcpRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<TcpConn*>(s->data);
  DnsServer* self = c->server;
  if (n == 0) return;
  if (n < 0 || c->in.size() + static_cast<size_t>(n) > kMaxTcpBuffer) {
    self->CloseConn(c);
    return;
  }
  // The buffer is the server's, shared by all handles: uv_buf contents are copied into `in`.
  (void)buf;
  c->in.append(self->buf_, static_cast<size_t>(n));
  uv_timer_again(&c->timer);
  size_t pos = 0;
  while (c->in.size() - pos >= 2) {
    const auto* p = reinterpret_cast<const uint8_t*>(c->in.data() + pos);
    const size_t len = (static_cast<size_t>(p[0]) << 8) | p[1];
    if (c->in.size() - pos - 2 < len) break;
    ++self->tcp_queries_;
    std::span<const uint8_t> msg(p + 2, len);
    pos += 2 + len;
    if (self->zone_->Answer(msg, true, &self->answer_) != Zone::Action::kReply) continue;
    auto* w = new WriteReq();
    w->data.reserve(self->answer_.size() + 2);
    w->data.push_back(static_cast<char>(self->answer_.size() >> 8));
    w->data.push_back(static_cast<char>(self->answer_.size() & 0xff));
    w->data += self->answer_;
    uv_buf_t out = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    w->req.data = w;
    int rc = uv_write(&w->req, s, &out, 1, [](uv_write_t* req, int) {
      delete static_cast<WriteReq*>(req->data);  // also on UV_ECANCELED at close
    });
    if (rc != 0) {
      delete w;
      self->CloseConn(c);
      return;
    }
  }
  c->in.erase(0, pos);
}

void DnsServer::CloseConn(TcpConn* c) {
  if (c->closing) return;
  c->closing = true;
  if (c->prev != nullptr) c->prev->next = c->next;
  if (c->next != nullptr) c->next->prev = c->prev;
  if (conns_ == c) conns_ = c->next;
  --tcp_conns_;
  auto closed = [](uv_handle_t* h) {
    auto* conn = static_cast<TcpConn*>(h->data);
    if (--conn->open_handles == 0) delete conn;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), closed);
}

}  // namespace mxcensus::lab
