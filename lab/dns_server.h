#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "lab/dns_zone.h"

namespace mxcensus::lab {

// Serves a Zone over UDP and TCP (RFC 1035 §4.2.2 length-prefixed, several queries per
// connection) on one address. Loop thread only; `loop` and `zone` must outlive it.
class DnsServer {
 public:
  static absl::StatusOr<std::unique_ptr<DnsServer>> Start(uv_loop_t* loop, const Zone* zone,
                                                          const std::string& ip, uint16_t port);
  // REQUIRES: Close() was called and the loop has run since (handles are closed).
  ~DnsServer();
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  // Closes the listeners and connections; the loop must run once more to finish. Idempotent.
  void Close();

  uint64_t udp_queries() const { return udp_queries_; }
  uint64_t tcp_queries() const { return tcp_queries_; }

 private:
  struct TcpConn;
  DnsServer(uv_loop_t* loop, const Zone* zone) : loop_(loop), zone_(zone) {}
  static void OnUdpRecv(uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* addr,
                        unsigned flags);
  static void OnTcpConnection(uv_stream_t* server, int status);
  static void OnTcpRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void Alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  void CloseConn(TcpConn* c);

  uv_loop_t* loop_;
  const Zone* zone_;
  uv_udp_t udp_;
  uv_tcp_t tcp_;
  bool udp_open_ = false, tcp_open_ = false;
  int tcp_conns_ = 0;
  TcpConn* conns_ = nullptr;  // intrusive list of open connections
  uint64_t udp_queries_ = 0, tcp_queries_ = 0;
  std::string answer_;  // reused for every answer
  char buf_[65536];
};

}  // namespace mxcensus::lab
