#include "lab/lab_runner.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lab/dns_server.h"
#include "lab/dns_zone.h"
#include "lab/pki.h"
#include "lab/smtp_server.h"
#include "lab/truth.h"

namespace mxcensus::lab {
namespace {

constexpr uint32_t kHostsPerProcess = 6000;

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void Error(const std::string& text) {
  std::fprintf(stderr, "mxcensus: error: %s\n", text.c_str());
  std::fflush(stderr);
}

struct Child {
  pid_t pid = -1;
  int fd = -1;  // read end of the readiness pipe
  uv_pipe_t pipe;
  std::string buf;
  bool ready = false;
  bool exited = false;
  size_t listeners = 0;
  class Supervisor* sup = nullptr;
};

// The supervisor's event loop: readiness pipes, signals, child exits, and the DNS server.
class Supervisor {
 public:
  Supervisor(const LabOptions& o, const World& w, std::vector<Child>& children)
      : options_(o), world_(w), children_(children) {}

  int Run(const Zone& zone, std::chrono::steady_clock::time_point t0);

 private:
  static void OnPipeRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void OnSignal(uv_signal_t* s, int signum);
  void ChildLine(Child& c, const std::string& line);
  void ReapChildren();
  void StopAll(int exit_code);
  void MaybeFinish();

  const LabOptions& options_;
  const World& world_;
  std::vector<Child>& children_;
  uv_loop_t loop_;
  uv_signal_t sigint_, sigterm_, sigchld_;
  std::unique_ptr<DnsServer> dns_;
  std::chrono::steady_clock::time_point t0_;
  bool stopping_ = false;
  bool announced_ = false;
  int exit_code_ = 0;
  char read_buf_[512];
};

int Supervisor::Run(const Zone& zone, std::chrono::steady_clock::time_point t0) {
  t0_ = t0;
  uv_loop_init(&loop_);
  loop_.data = this;
  uv_signal_init(&loop_, &sigint_);
  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigchld_);
  for (uv_signal_t* s : {&sigint_, &sigterm_, &sigchld_}) s->data = this;
  uv_signal_start(&sigint_, OnSignal, SIGINT);
  uv_signal_start(&sigterm_, OnSignal, SIGTERM);
  uv_signal_start(&sigchld_, OnSignal, SIGCHLD);
  // The signals were blocked across fork() so that none is lost before the handlers exist.
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGCHLD}) sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  auto dns = DnsServer::Start(&loop_, &zone, options_.dns_ip, options_.dns_port);
  if (!dns.ok()) {
    Error(std::string(dns.status().message()));
    StopAll(2);
  } else {
    dns_ = *std::move(dns);
  }
  for (Child& c : children_) {
    c.sup = this;
    uv_pipe_init(&loop_, &c.pipe, 0);
    c.pipe.data = &c;
    uv_pipe_open(&c.pipe, c.fd);
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c.pipe),
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto* ch = static_cast<Child*>(h->data);
          *b = uv_buf_init(ch->sup->read_buf_, sizeof ch->sup->read_buf_);
        },
        OnPipeRead);
  }
  ReapChildren();  // a child may have died before SIGCHLD was watched
  uv_run(&loop_, UV_RUN_DEFAULT);
  if (dns_) dns_->Close();
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  dns_.reset();
  uv_loop_close(&loop_);
  return exit_code_;
}

void Supervisor::OnPipeRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Child*>(s->data);
  Supervisor* sup = c->sup;
  if (n < 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
    if (!c->ready && !sup->stopping_) {
      Error(absl::StrCat("serving process ", c->pid, " ended before it was ready"));
      sup->StopAll(1);
    }
    return;
  }
  c->buf.append(buf->base, static_cast<size_t>(n));
  if (c->buf.size() > 4096) c->buf.resize(4096);  // bounded: a child writes one short line
  size_t nl;
  while ((nl = c->buf.find('\n')) != std::string::npos) {
    std::string line = c->buf.substr(0, nl);
    c->buf.erase(0, nl + 1);
    sup->ChildLine(*c, line);
  }
}

void Supervisor::ChildLine(Child& c, const std::string& line) {
  if (line.rfind("ready ", 0) == 0) {
    c.ready = true;
    c.listeners = std::strtoul(line.c_str() + 6, nullptr, 10);
  } else {
    Error(line.rfind("error ", 0) == 0 ? line.substr(6) : line);
    StopAll(2);
    return;
  }
  if (announced_ || stopping_) return;
  size_t listeners = 0;
  for (const Child& ch : children_) {
    if (!ch.ready) return;
    listeners += ch.listeners;
  }
  announced_ = true;
  std::printf("ready hosts=%zu domains=%zu dns=%s:%u procs=%zu listeners=%zu out=%s\n",
              world_.hosts.size(), world_.domains.size(), options_.dns_ip.c_str(),
              options_.dns_port, children_.size(), listeners, options_.out_dir.c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "mxcensus lab: ready after %.0f ms\n", MsSince(t0_));
  std::fflush(stderr);
}

void Supervisor::OnSignal(uv_signal_t* s, int signum) {
  auto* sup = static_cast<Supervisor*>(s->data);
  if (signum == SIGCHLD) {
    sup->ReapChildren();
    return;
  }
  sup->StopAll(0);
}

void Supervisor::ReapChildren() {
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (Child& c : children_) {
      if (c.pid != pid) continue;
      c.exited = true;
      if (!stopping_) {
        Error(absl::StrCat("serving process ", pid, " exited unexpectedly (",
                           WIFSIGNALED(status) ? "signal " : "status ",
                           WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), ")"));
        StopAll(1);
      }
    }
  }
  MaybeFinish();
}

void Supervisor::StopAll(int exit_code) {
  if (!stopping_) {
    stopping_ = true;
    exit_code_ = exit_code;
    for (Child& c : children_) {
      if (!c.exited) kill(c.pid, SIGTERM);
    }
  }
  MaybeFinish();
}

void Supervisor::MaybeFinish() {
  if (!stopping_) return;
  for (const Child& c : children_) {
    if (!c.exited) return;
  }
  uv_stop(&loop_);
}

}  // namespace

int ServingProcesses(const LabOptions& o) {
  const uint32_t n = o.world.hosts;
  int procs = o.procs > 0 ? o.procs
                          : std::max<int>(
                                2, static_cast<int>((n + kHostsPerProcess - 1) / kHostsPerProcess));
  return std::max(1, std::min<int>(procs, static_cast<int>(n)));
}

int RunLab(const LabOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  std::error_code ec;
  std::filesystem::create_directories(options.out_dir, ec);
  if (ec) {
    Error(absl::StrCat("--out ", options.out_dir, ": ", ec.message()));
    return 2;
  }
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  auto world = BuildWorld(options.world);
  if (!world.ok()) {
    Error(std::string(world.status().message()));
    return 2;
  }
  const double world_ms = MsSince(t0);
  auto pki = Pki::LoadOrCreate(options.out_dir, *world, static_cast<int64_t>(time(nullptr)));
  if (!pki.ok()) {
    Error(std::string(pki.status().message()));
    return 2;
  }
  const double pki_ms = MsSince(t0) - world_ms;
  if (auto s = WriteWorldFiles(options.out_dir, *world, **pki); !s.ok()) {
    Error(std::string(s.message()));
    return 2;
  }
  std::fprintf(stderr,
               "mxcensus lab: %zu hosts, %zu domains; world %.0f ms, certificates %.0f ms (CAs "
               "%.0f, leaves %.0f %s, checks %.0f), files written after %.0f ms\n",
               world->hosts.size(), world->domains.size(), world_ms, pki_ms,
               (*pki)->timing().cas_ms, (*pki)->timing().leaves_ms,
               (*pki)->leaves_issued() ? "issued" : "reused", (*pki)->timing().facts_ms,
               MsSince(t0));
  std::fflush(stderr);
  std::fflush(stdout);

  // SSL_write on a socket whose peer left raises SIGPIPE: ignore it everywhere.
  signal(SIGPIPE, SIG_IGN);
  sigset_t set, old;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGCHLD}) sigaddset(&set, sig);
  sigprocmask(SIG_BLOCK, &set, &old);
  const int procs = ServingProcesses(options);
  const uint32_t n = options.world.hosts;
  const pid_t parent = getpid();
  std::vector<Child> children(procs);
  for (int k = 0; k < procs; ++k) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      Error("pipe2 failed");
      for (int j = 0; j < k; ++j) kill(children[j].pid, SIGTERM);
      return 1;
    }
    const uint32_t first = static_cast<uint32_t>(uint64_t{n} * k / procs);
    const uint32_t end = static_cast<uint32_t>(uint64_t{n} * (k + 1) / procs);
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      for (int j = 0; j < k; ++j) close(children[j].fd);
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // die with the supervisor, even on SIGKILL
      if (getppid() != parent) _exit(1);
      sigprocmask(SIG_SETMASK, &old, nullptr);
      SmtpServeOptions so{&*world, pki->get(), first, end, fds[1]};
      _exit(ServeSmtpHosts(so));
    }
    close(fds[1]);
    if (pid < 0) {
      Error("fork failed");
      for (int j = 0; j < k; ++j) kill(children[j].pid, SIGTERM);
      return 1;
    }
    children[k].pid = pid;
    children[k].fd = fds[0];
  }
  // While the children bind their listeners, build the zone.
  auto ns_ip = ParseIpv4(options.dns_ip);
  std::unique_ptr<Zone> zone = Zone::Build(*world, **pki, ns_ip.value_or(0x7f000001));
  std::fprintf(stderr, "mxcensus lab: DNS zone of %zu names built after %.0f ms\n",
               zone->name_count(), MsSince(t0));
  Supervisor sup(options, *world, children);
  return sup.Run(*zone, t0);
}

}  // namespace mxcensus::lab
