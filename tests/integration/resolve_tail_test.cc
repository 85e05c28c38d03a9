// Silent DNS names in the resolve stage (issue 6): a domain the lab's DNS server never answers
// takes the c-ares schedule (timeout, then twice it, ...) to end as `timeout`. It must not hold a
// window slot of the query pool through its retries (the domains behind it would wait), nor the
// worker's capacity slot for its whole shard (the worker would idle while holding it). The lab's
// DNS server runs in this process on an ephemeral loopback port; statuses are scored against the
// lab's truth.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <condition_variable>
#include <ctime>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lab/dns_server.h"
#include "lab/dns_zone.h"
#include "lab/pki.h"
#include "lab/truth.h"
#include "lab/world.h"
#include "proto/convert.h"
#include "worker/dns/resolver.h"
#include "worker/node/loop_thread.h"
#include "worker/node/worker_node.h"

namespace mxcensus {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kTimeoutMs = 300;  // first attempt; c-ares doubles it: 300 + 600 ms with 2 tries
constexpr int kTries = 2;
constexpr int kSilentMs = kTimeoutMs + 2 * kTimeoutMs;

// A port free for both UDP and TCP on 127.0.0.1 right now (the server binds both).
uint16_t FreePort() {
  for (int i = 0; i < 50; ++i) {
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        getsockname(u, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      close(u);
      continue;
    }
    int t = socket(AF_INET, SOCK_STREAM, 0);
    const bool ok = bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(t);
    close(u);
    if (ok) return ntohs(a.sin_port);
  }
  return 0;
}

// A small lab world with its authoritative DNS server on its own loop thread.
class LabDns {
 public:
  LabDns() {
    lab::WorldOptions o;
    o.hosts = 300;
    o.seed = 6;
    o.domains = 2000;
    world_ = *lab::BuildWorld(o);
    pki_ = *lab::Pki::LoadOrCreate("", world_, time(nullptr));  // in memory
    zone_ = lab::Zone::Build(world_, *pki_, 0x7f000001);
    port_ = FreePort();
    std::mutex mu;
    std::condition_variable cv;
    bool ready = false;
    loop_.Start([&] {
      auto s = lab::DnsServer::Start(loop_.loop(), zone_.get(), "127.0.0.1", port_);
      std::lock_guard lock(mu);
      if (s.ok()) server_ = *std::move(s);
      ready = true;
      cv.notify_all();
    });
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return ready; });
  }
  ~LabDns() {
    loop_.Stop([this](std::function<void()> done) {
      if (server_) server_->Close();
      done();
    });
    loop_.Join();
  }
  bool ok() const { return server_ != nullptr; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const lab::World& world() const { return world_; }
  DnsStatus Truth(size_t j) const { return lab::DomainTruth(world_, *pki_, j).status; }
  // `silent` domains the server never answers, then `others` answered ones (indexes).
  void Pick(size_t others, std::vector<size_t>* silent, std::vector<size_t>* answered) const {
    for (size_t j = 0; j < world_.domains.size(); ++j) {
      if (world_.domains[j].kind == lab::DomainKind::kTimeout) {
        silent->push_back(j);
      } else if (answered->size() < others) {
        answered->push_back(j);
      }
    }
  }

 private:
  lab::World world_;
  std::unique_ptr<lab::Pki> pki_;
  std::unique_ptr<lab::Zone> zone_;
  uint16_t port_ = 0;
  worker::LoopThread loop_;
  std::unique_ptr<lab::DnsServer> server_;  // loop thread only (after Start)
};

// One lab for both tests: the world's PKI takes seconds to make.
const LabDns& Lab() {
  static auto* lab = new LabDns();  // never destroyed: its loop thread lives until exit
  return *lab;
}

dns::ResolverOptions Options(const LabDns& lab, int window) {
  dns::ResolverOptions o;
  o.servers = {lab.address()};
  o.timeout_ms = kTimeoutMs;
  o.tries = kTries;
  o.window_per_server = window;
  return o;
}

// A window of 5 queries (one silent domain's MX and policy TXTs), the silent domains first:
// the answered domains queued behind them wait one first-attempt timeout per silent domain, not
// its whole retry schedule: a query leaves the window after its first attempt's timeout, while
// c-ares keeps retrying it.
TEST(ResolveTail, SilentNamesDoNotHoldTheQueryWindow) {
  const LabDns& lab = Lab();
  ASSERT_TRUE(lab.ok());
  std::vector<size_t> silent, answered;
  lab.Pick(60, &silent, &answered);
  ASSERT_GE(silent.size(), 2u) << "the world has too few silent domains";

  uv_loop_t loop;
  uv_loop_init(&loop);
  auto r = dns::DomainResolver::Create(&loop, Options(lab, 5));
  ASSERT_TRUE(r.ok()) << r.status();
  auto& resolver = *r;
  struct Got {
    DnsStatus status;
    double ms;
  };
  std::map<std::string, Got> got;
  const auto t0 = Clock::now();
  auto resolve = [&](size_t j) {
    resolver->Resolve(lab.world().domains[j].name, [&, t0](DomainResult&& res) {
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      got[res.domain] = Got{res.status, ms};
    });
  };
  for (size_t j : silent) resolve(j);  // first: their queries take the window
  for (size_t j : answered) resolve(j);
  uv_run(&loop, UV_RUN_DEFAULT);
  const auto stats = resolver->stats();
  resolver->Shutdown([] {});
  uv_run(&loop, UV_RUN_DEFAULT);
  resolver.reset();
  uv_loop_close(&loop);

  ASSERT_EQ(got.size(), silent.size() + answered.size());
  double first_silent = 1e9, last_silent = 0, last_answered = 0;
  for (size_t j : silent) {
    const auto& g = got.at(lab.world().domains[j].name);
    EXPECT_EQ(g.status, lab.Truth(j)) << lab.world().domains[j].name;
    first_silent = std::min(first_silent, g.ms);
    last_silent = std::max(last_silent, g.ms);
  }
  for (size_t j : answered) {
    const auto& g = got.at(lab.world().domains[j].name);
    EXPECT_EQ(g.status, lab.Truth(j)) << lab.world().domains[j].name;
    last_answered = std::max(last_answered, g.ms);
  }
  // The c-ares schedule of the silent names is unchanged (never cut short)...
  EXPECT_GE(first_silent, kSilentMs - 20);
  // ...and the answered domains waited one first timeout per silent domain. With a window that
  // held a silent query through every retry they waited silent.size() * kSilentMs (4.5 s for 5).
  const auto n = static_cast<double>(silent.size());
  EXPECT_LT(last_answered, n * kTimeoutMs + kSilentMs) << "first silent done at " << first_silent;
  // Every query of a silent name (MX + 4 policy TXTs) left the window unanswered (answered
  // queries only when the host is slower than a first timeout).
  EXPECT_EQ(stats.queries.unanswered, 5 * silent.size());
  EXPECT_GE(stats.queries.aged, stats.queries.unanswered);
  // Bound: one turn of the window per silent domain, then its retries, plus slack.
  EXPECT_LT(last_silent, n * kTimeoutMs + kSilentMs + 1500);
}

// Collects what a WorkerNode hands its sink.
class Sink : public worker::ResultSink {
 public:
  void OnBatch(v1::ResultBatch b) override {
    std::lock_guard lock(mu_);
    for (const auto& d : b.domains()) statuses_[d.domain()].push_back(FromProto(d).status);
    if (b.shard_complete()) completes_.push_back(b.shard_id());
  }
  void OnSlotFree() override {
    std::lock_guard lock(mu_);
    slot_free_.push_back(Clock::now());
  }
  void OnShardFinished() override {
    std::lock_guard lock(mu_);
    finished_.push_back(Clock::now());
    cv_.notify_all();
  }
  bool WaitFinished(size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return finished_.size() >= n; });
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::vector<DnsStatus>> statuses_;
  std::vector<uint32_t> completes_;
  std::vector<Clock::time_point> slot_free_, finished_;
};

// A resolve shard whose answered domains are done hands its capacity slot back at once and
// completes when its last silent name times out; every domain is delivered once, as the truth
// says.
TEST(ResolveTail, ShardFreesItsSlotAtItsTailAndCompletesInTime) {
  const LabDns& lab = Lab();
  ASSERT_TRUE(lab.ok());
  std::vector<size_t> silent, answered;
  lab.Pick(400, &silent, &answered);
  ASSERT_GE(silent.size(), 2u);
  ASSERT_LE(silent.size() * 20, silent.size() + answered.size()) << "not a tail";

  Sink sink;
  worker::WorkerNodeOptions o;
  o.threads = 1;
  o.probe.ehlo_name = "test.invalid";
  o.probe.concurrency = 10;
  o.dns = Options(lab, 150);
  auto node = worker::WorkerNode::Create(o, &sink);
  ASSERT_TRUE(node.ok()) << node.status();
  v1::ShardAssignment a;
  a.set_crawl_id(1);
  a.set_shard_id(7);
  a.set_lease_token(1);
  for (size_t j : answered) a.mutable_resolve()->add_domains(lab.world().domains[j].name);
  for (size_t j : silent) a.mutable_resolve()->add_domains(lab.world().domains[j].name);
  const auto t0 = Clock::now();
  ASSERT_TRUE((*node)->Assign(a));
  ASSERT_TRUE(sink.WaitFinished(1, std::chrono::seconds(10)));
  const double done_ms = std::chrono::duration<double, std::milli>(sink.finished_[0] - t0).count();
  ASSERT_EQ(sink.slot_free_.size(), 1u);  // once: early, not again at the end
  const double free_ms = std::chrono::duration<double, std::milli>(sink.slot_free_[0] - t0).count();
  EXPECT_EQ((*node)->shards_in_progress(), 0);
  EXPECT_EQ((*node)->tail_shards(), 0);
  (*node)->Stop();

  // The slot came back while the silent names were still being retried.
  EXPECT_LT(free_ms, kSilentMs - 50) << "completed after " << done_ms << " ms";
  EXPECT_GE(done_ms, kSilentMs - 20);
  EXPECT_LT(done_ms, kSilentMs + 2000);
  ASSERT_EQ(sink.completes_, std::vector<uint32_t>{7});
  ASSERT_EQ(sink.statuses_.size(), silent.size() + answered.size());
  for (size_t j : silent) answered.push_back(j);
  for (size_t j : answered) {
    const auto& s = sink.statuses_[lab.world().domains[j].name];
    ASSERT_EQ(s.size(), 1u) << lab.world().domains[j].name;
    EXPECT_EQ(s[0], lab.Truth(j)) << lab.world().domains[j].name;
  }
}

}  // namespace
}  // namespace mxcensus
