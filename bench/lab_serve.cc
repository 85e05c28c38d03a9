// bench_lab_serve: how fast `mxcensus lab` serves.
//   1. STARTTLS sessions (banner, EHLO, STARTTLS, TLS 1.3 ECDSA handshake) against one serving
//      process (--procs 1): completed handshakes per second of that process's CPU time
//      ("handshakes/s on one core"), and its CPU µs per handshake.
//   2. DNS: UDP queries answered per second of the supervisor's CPU time.
// The client is an epoll + OpenSSL load generator in this process (the other core).
//
// Usage: bench_lab_serve [--bin PATH/mxcensus] [--hosts 2000] [--seconds 5] [--concurrency 256]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "lab/pki.h"
#include "lab/server_tls.h"
#include "lab/world.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string bin;
  int hosts = 2000;
  double seconds = 5;
  int concurrency = 256;
  uint32_t base = 0x7f180000;  // 127.24.0.0
  int dns_port = 15393;
};

double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = s.rfind(')');
  std::istringstream rest(s.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15; ++i) {
    rest >> field;
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

struct Lab {
  pid_t pid = -1;
  pid_t server = -1;
  std::string dir;
};

bool StartLab(const Options& o, Lab* lab) {
  char tmpl[] = "/tmp/mxlab-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return false;
  lab->dir = tmpl;
  std::string mix = lab->dir + "/mix.txt";
  std::ofstream(mix) << "modern_tls13 1\n";
  int fds[2];
  if (pipe(fds) != 0) return false;
  char base[32];
  snprintf(base, sizeof base, "%u.%u.%u.%u", o.base >> 24, (o.base >> 16) & 255,
           (o.base >> 8) & 255, o.base & 255);
  std::string dns = "127.0.0.1:" + std::to_string(o.dns_port);
  std::string hosts = std::to_string(o.hosts);
  std::string out = lab->dir + "/lab";
  lab->pid = fork();
  if (lab->pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execl(o.bin.c_str(), o.bin.c_str(), "lab", "--hosts", hosts.c_str(), "--seed", "1", "--out",
          out.c_str(), "--base", base, "--dns", dns.c_str(), "--mix", mix.c_str(), "--procs", "1",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::string line;
  char ch;
  while (read(fds[0], &ch, 1) == 1 && ch != '\n') line.push_back(ch);
  close(fds[0]);
  if (line.rfind("ready ", 0) != 0) return false;
  std::ifstream children("/proc/" + std::to_string(lab->pid) + "/task/" + std::to_string(lab->pid) +
                         "/children");
  children >> lab->server;
  std::fprintf(stderr, "lab: %s (serving process %d)\n", line.c_str(), lab->server);
  return lab->server > 0;
}

void StopLab(Lab* lab) {
  if (lab->pid > 0) {
    kill(lab->pid, SIGTERM);
    int st;
    waitpid(lab->pid, &st, 0);
  }
  if (!lab->dir.empty()) {
    std::string cmd = "rm -rf '" + lab->dir + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "cleanup failed\n");
  }
}

// --- STARTTLS load -------------------------------------------------------------------------

enum class St { kConnecting, kGreeting, kEhlo, kStartTls, kHandshake };

struct Session {
  int fd = -1;
  St st = St::kConnecting;
  SSL* ssl = nullptr;
  std::string buf;
};

// True when `buf` holds a complete reply (its last line "XYZ ...\r\n"); clears it then.
bool ReplyDone(std::string& buf) {
  size_t end = buf.rfind("\r\n");
  if (end == std::string::npos) return false;
  size_t start = buf.rfind("\r\n", end == 0 ? 0 : end - 1);
  start = (start == std::string::npos || start >= end) ? 0 : start + 2;
  if (end - start < 4 || buf[start + 3] != ' ') return false;
  buf.clear();
  return true;
}

struct Load {
  const Options& o;
  int ep = -1;
  SSL_CTX* ctx = nullptr;
  std::vector<Session> sessions;
  long handshakes = 0, failures = 0;
  uint32_t next_host = 0;

  explicit Load(const Options& opts) : o(opts) {}

  void Open(int i) {
    Session& s = sessions[i];
    s = Session{};
    s.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(2525);
    sa.sin_addr.s_addr = htonl(o.base + 1 + (next_host++ % o.hosts));
    connect(s.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(ep, EPOLL_CTL_ADD, s.fd, &ev);
  }

  void Finish(int i, bool ok) {
    Session& s = sessions[i];
    if (ok) {
      ++handshakes;
    } else {
      ++failures;
    }
    if (s.ssl != nullptr) SSL_free(s.ssl);
    ERR_clear_error();
    close(s.fd);
    Open(i);
  }

  void Send(Session& s, const char* text) {
    if (send(s.fd, text, strlen(text), MSG_NOSIGNAL) < 0) s.st = St::kConnecting;
  }

  void Event(int i, uint32_t events) {
    Session& s = sessions[i];
    if ((events & (EPOLLERR | EPOLLHUP)) != 0 && s.st != St::kHandshake) {
      Finish(i, false);
      return;
    }
    if (s.st == St::kConnecting) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = static_cast<uint32_t>(i);
      epoll_ctl(ep, EPOLL_CTL_MOD, s.fd, &ev);
      s.st = St::kGreeting;
      return;
    }
    if (s.st == St::kHandshake) {
      Handshake(i);
      return;
    }
    char tmp[4096];
    ssize_t n = recv(s.fd, tmp, sizeof tmp, 0);
    if (n <= 0) {
      Finish(i, false);
      return;
    }
    s.buf.append(tmp, static_cast<size_t>(n));
    if (!ReplyDone(s.buf)) return;
    switch (s.st) {
      case St::kGreeting:
        Send(s, "EHLO bench.lab.test\r\n");
        s.st = St::kEhlo;
        return;
      case St::kEhlo:
        Send(s, "STARTTLS\r\n");
        s.st = St::kStartTls;
        return;
      case St::kStartTls:
        s.ssl = SSL_new(ctx);
        SSL_set_fd(s.ssl, s.fd);
        SSL_set_connect_state(s.ssl);
        s.st = St::kHandshake;
        Handshake(i);
        return;
      default:
        return;
    }
  }

  void Handshake(int i) {
    Session& s = sessions[i];
    int rc = SSL_do_handshake(s.ssl);
    if (rc == 1) {
      Finish(i, true);
      return;
    }
    int e = SSL_get_error(s.ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
    Finish(i, false);
  }
};

void BenchStartTls(const Options& o, const Lab& lab) {
  Load load(o);
  load.ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(load.ctx, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_mode(load.ctx, SSL_MODE_RELEASE_BUFFERS);
  load.ep = epoll_create1(0);
  load.sessions.resize(o.concurrency);
  for (int i = 0; i < o.concurrency; ++i) load.Open(i);
  std::vector<epoll_event> evs(1024);
  // One second of warm-up, then the measured window.
  auto run_for = [&](double secs) {
    auto end = Clock::now() + std::chrono::duration<double>(secs);
    while (Clock::now() < end) {
      int n = epoll_wait(load.ep, evs.data(), static_cast<int>(evs.size()), 100);
      for (int k = 0; k < n; ++k) load.Event(static_cast<int>(evs[k].data.u32), evs[k].events);
    }
  };
  run_for(1.0);
  long h0 = load.handshakes, f0 = load.failures;
  double cpu0 = CpuSeconds(lab.server);
  auto t0 = Clock::now();
  run_for(o.seconds);
  double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  double cpu = CpuSeconds(lab.server) - cpu0;
  long hs = load.handshakes - h0, fails = load.failures - f0;
  std::printf(
      "STARTTLS sessions against 1 serving process (%d hosts, TLS 1.3, ECDSA P-256, "
      "X25519, %d concurrent):\n",
      o.hosts, o.concurrency);
  std::printf("  completed %ld in %.2f s wall = %.0f/s (failed %ld)\n", hs, wall, hs / wall, fails);
  std::printf("  serving process CPU %.2f s = %.0f%% of a core; %.1f us CPU per session\n", cpu,
              100 * cpu / wall, 1e6 * cpu / static_cast<double>(hs));
  std::printf("  => %.0f STARTTLS handshakes per second per core of the lab\n",
              static_cast<double>(hs) / cpu);
  for (auto& s : load.sessions) {
    if (s.ssl != nullptr) SSL_free(s.ssl);
    close(s.fd);
  }
  close(load.ep);
  SSL_CTX_free(load.ctx);
}

// --- The floor: the same server TLS configuration, in-process, over a socket pair ------------

double ThreadCpu() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

double InProcessServerHandshakeUs(const Options& o, const Lab& lab) {
  mxcensus::lab::WorldOptions wo;
  wo.hosts = static_cast<uint32_t>(o.hosts);
  wo.seed = 1;
  wo.base = o.base;
  wo.mix = mxcensus::lab::ProfileMix{};
  wo.mix[static_cast<size_t>(mxcensus::lab::Profile::kModernTls13)] = 1;
  auto world = mxcensus::lab::BuildWorld(wo);
  if (!world.ok()) return 0;
  auto pki = mxcensus::lab::Pki::LoadOrCreate(lab.dir + "/lab", *world, time(nullptr));
  if (!pki.ok()) return 0;
  auto tls = mxcensus::lab::ServerTls::Create(**pki);
  if (!tls.ok()) return 0;
  SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
  const int n = 1000;
  for (size_t i = 0; i < world->hosts.size(); ++i) (*pki)->leaf(i);  // as the lab does at start
  double server_cpu = 0;
  for (int i = 0; i < n; ++i) {
    int fds[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds);
    double t0 = ThreadCpu();
    SSL* s = (*tls)->NewSession(world->hosts[static_cast<size_t>(i) % world->hosts.size()], fds[0]);
    server_cpu += ThreadCpu() - t0;
    SSL* c = SSL_new(cctx);
    SSL_set_fd(c, fds[1]);
    SSL_set_connect_state(c);
    bool cd = false, sd = false;
    for (int k = 0; k < 100 && !(cd && sd); ++k) {
      if (!cd) cd = SSL_do_handshake(c) == 1;
      t0 = ThreadCpu();
      if (!sd) sd = SSL_do_handshake(s) == 1;
      server_cpu += ThreadCpu() - t0;
    }
    t0 = ThreadCpu();
    SSL_free(s);
    server_cpu += ThreadCpu() - t0;
    SSL_free(c);
    ERR_clear_error();
    close(fds[0]);
    close(fds[1]);
  }
  SSL_CTX_free(cctx);
  return 1e6 * server_cpu / n;
}

// --- DNS load ------------------------------------------------------------------------------

void BenchDns(const Options& o, const Lab& lab) {
  std::vector<std::string> names;
  std::ifstream in(lab.dir + "/lab/domains.txt");
  for (std::string line; std::getline(in, line);) names.push_back(line);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(o.dns_port));
  sa.sin_addr.s_addr = htonl(0x7f000001);
  connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  int size = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  auto query = [&](uint16_t id) {
    const std::string& name = names[id % names.size()];
    std::string q;
    q.push_back(static_cast<char>(id >> 8));
    q.push_back(static_cast<char>(id));
    q.append("\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00", 10);
    size_t start = 0;
    while (start < name.size()) {
      size_t dot = name.find('.', start);
      if (dot == std::string::npos) dot = name.size();
      q.push_back(static_cast<char>(dot - start));
      q.append(name, start, dot - start);
      start = dot + 1;
    }
    q.append("\x00\x00\x0f\x00\x01", 5);  // MX IN
    (void)send(fd, q.data(), q.size(), 0);
  };
  const int window = 256;
  long sent = 0, answered = 0;
  uint16_t id = 0;
  double cpu0 = CpuSeconds(lab.pid);
  auto t0 = Clock::now();
  auto end = t0 + std::chrono::duration<double>(o.seconds);
  char buf[2048];
  auto last_progress = Clock::now();
  while (Clock::now() < end) {
    while (sent - answered < window) {
      query(id++);
      ++sent;
    }
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      ++answered;
      last_progress = Clock::now();
    } else if (Clock::now() - last_progress > std::chrono::milliseconds(200)) {
      answered = sent;  // timeout-domain queries are never answered: forget them
      last_progress = Clock::now();
    }
  }
  double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  double cpu = CpuSeconds(lab.pid) - cpu0;
  std::printf("DNS over UDP (MX queries over %zu domains, %d outstanding):\n", names.size(),
              window);
  std::printf("  %ld answered in %.2f s = %.0f/s; supervisor CPU %.2f s, %.1f us per query\n",
              answered, wall, answered / wall, cpu, 1e6 * cpu / static_cast<double>(answered));
  std::printf("  => %.0f queries per second per core\n", static_cast<double>(answered) / cpu);
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  char self[4096];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len > 0) {
    self[len] = '\0';
    std::string dir(self);
    dir = dir.substr(0, dir.rfind('/'));
    o.bin = dir + "/../mxcensus";
  }
  if (const char* env = std::getenv("MXCENSUS_BIN")) o.bin = env;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--bin") o.bin = argv[i + 1];
    if (k == "--hosts") o.hosts = std::atoi(argv[i + 1]);
    if (k == "--seconds") o.seconds = std::atof(argv[i + 1]);
    if (k == "--concurrency") o.concurrency = std::atoi(argv[i + 1]);
  }
  signal(SIGPIPE, SIG_IGN);
  Lab lab;
  if (!StartLab(o, &lab)) {
    std::fprintf(stderr, "could not start the lab (%s)\n", o.bin.c_str());
    StopLab(&lab);
    return 1;
  }
  double floor_us = InProcessServerHandshakeUs(o, lab);
  std::printf(
      "floor: the same server SSL (ServerTls, same leaf) handshaking in-process over a "
      "socket pair: %.1f us server CPU per handshake\n",
      floor_us);
  BenchStartTls(o, lab);
  BenchDns(o, lab);
  StopLab(&lab);
  return 0;
}
