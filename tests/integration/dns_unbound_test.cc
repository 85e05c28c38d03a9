// The DNS stage against a real DNS server: unbound (Debian's), started on loopback with a
// generated auth-zone covering every case of issue 5, plus a SERVFAIL zone (forwarded over TCP to
// a closed port: unbound answers SERVFAIL at once) and a "times out" zone (forwarded over UDP to
// a socket this test holds open and never answers). Checked: `mxcensus resolve` output, field by
// field, and the DomainResolver library (dedup, completion contract, failover, timeouts).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "common/result_json.h"
#include "nlohmann/json.hpp"
#include "tests/harness/test_util.h"
#include "worker/dns/resolver.h"

extern char** environ;

namespace mxcensus {
namespace {

using nlohmann::json;
using testing::ReadFile;
using testing::RunMxcensus;
using testing::TempDir;

// The zone: one line per case (the expectations below say why each is what it is).
constexpr char kZone[] = R"($ORIGIN mail.test.
$TTL 300
@ SOA ns.mail.test. hostmaster.mail.test. 1 3600 600 86400 300
@ NS ns
ns A 127.0.0.1
multi MX 10 mx1.prov
multi MX 10 mx2.prov
multi MX 20 mx3.prov
multi TXT "v=spf1 ip4:192.0.2.0/24 " "include:_spf.mail.test -all"
multi TXT "google-site-verification=abc"
_dmarc.multi TXT "v=DMARC1; p=quarantine; " "rua=mailto:d@multi.mail.test"
_mta-sts.multi TXT "v=STSv1; id=20261128T000000"
_smtp._tls.multi TXT "v=TLSRPTv1; rua=mailto:tls@multi.mail.test"
mx1.prov A 127.0.0.12
mx1.prov A 127.0.0.11
mx1.prov AAAA 2001:db8::25
_25._tcp.mx1.prov TLSA 3 1 1 8bd1da95272f7fa4ffb24137fc0ed03aae67e5c4d8b3c50734e1050a7920b922
_25._tcp.mx1.prov TLSA 2 0 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
mx2.prov A 127.0.0.13
mx3.prov AAAA 2001:db8::3
shared MX 5 mx1.prov
cname MX 10 alias
alias CNAME real
real A 127.0.0.21
nullmx MX 0 .
nullmx TXT "v=spf1 -all"
implicit A 127.0.0.31
implicit AAAA 2001:db8::31
nomx TXT "just text"
noaddr MX 10 dangling
partial MX 10 dangling
partial MX 20 mx2.prov
mixed MX 10 MX2.PROV
mixed TXT "V=SPF1 mx -all"
_dmarc.mixed TXT "v=DMARC1; p=reject"
_dmarc.mixed TXT "v=DMARC1; p=none"
mxfail MX 10 mx.broken.test.
xn--bcher-kva MX 10 mx2.prov
)";

// Input: plain names, IDN, upper case, trailing dot, a CSV rank, a duplicate, a bad line.
constexpr char kList[] = R"(# the unbound world
multi.mail.test
SHARED.mail.test.
cname.mail.test
nullmx.mail.test
implicit.mail.test
nomx.mail.test
nx.mail.test
noaddr.mail.test
partial.mail.test
7,mixed.mail.test
mxfail.mail.test
bücher.mail.test
fail.broken.test
hang.slow.test
bad_name.mail.test
multi.mail.test
)";

json Host(const std::string& name, int pref, std::vector<std::string> v4,
          std::vector<std::string> v6, json cname = nullptr, json tlsa = json::array()) {
  return json{{"name", name},   {"preference", pref}, {"ipv4", v4},   {"ipv6", v6},
              {"cname", cname}, {"status", "ok"},     {"tlsa", tlsa}, {"tlsa_ad", false}};
}

json Policy(json spf = nullptr, json dmarc = nullptr, json p = nullptr, json sts = nullptr,
            json rpt = nullptr) {
  return json{
      {"spf", spf}, {"dmarc", dmarc}, {"dmarc_policy", p}, {"mta_sts", sts}, {"tls_rpt", rpt}};
}

json Domain(const std::string& d, const std::string& status, json mx = json::array(),
            json policy = Policy(), bool null_mx = false, bool implicit = false) {
  return json{{"domain", d},        {"status", status},        {"mx", mx},
              {"null_mx", null_mx}, {"implicit_mx", implicit}, {"policy", policy}};
}

std::map<std::string, json> Expected() {
  json mx1_tlsa = json::array(
      {json{{"usage", 2},
            {"selector", 0},
            {"matching_type", 1},
            {"data", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}},
       json{{"usage", 3},
            {"selector", 1},
            {"matching_type", 1},
            {"data", "8bd1da95272f7fa4ffb24137fc0ed03aae67e5c4d8b3c50734e1050a7920b922"}}});
  json mx1 = Host("mx1.prov.mail.test", 10, {"127.0.0.11", "127.0.0.12"}, {"2001:db8::25"}, nullptr,
                  mx1_tlsa);
  json mx2 = Host("mx2.prov.mail.test", 10, {"127.0.0.13"}, {});
  std::map<std::string, json> e;
  // Ties kept and ordered by name; addresses sorted; TLSA set in canonical order; multi-string
  // TXT joined without separator; the non-SPF TXT ignored.
  e["multi.mail.test"] = Domain(
      "multi.mail.test", "ok", {mx1, mx2, Host("mx3.prov.mail.test", 20, {}, {"2001:db8::3"})},
      Policy("v=spf1 ip4:192.0.2.0/24 include:_spf.mail.test -all",
             "v=DMARC1; p=quarantine; rua=mailto:d@multi.mail.test", "quarantine",
             "v=STSv1; id=20261128T000000", "v=TLSRPTv1; rua=mailto:tls@multi.mail.test"));
  json mx1_5 = mx1;
  mx1_5["preference"] = 5;
  e["shared.mail.test"] = Domain("shared.mail.test", "ok", {mx1_5});
  e["cname.mail.test"] = Domain(
      "cname.mail.test", "ok", {Host("alias.mail.test", 10, {"127.0.0.21"}, {}, "real.mail.test")});
  e["nullmx.mail.test"] =
      Domain("nullmx.mail.test", "null_mx", json::array(), Policy("v=spf1 -all"), true);
  e["implicit.mail.test"] = Domain(
      "implicit.mail.test", "ok", {Host("implicit.mail.test", 0, {"127.0.0.31"}, {"2001:db8::31"})},
      Policy(), false, true);
  e["nomx.mail.test"] = Domain("nomx.mail.test", "no_mx");
  e["nx.mail.test"] = Domain("nx.mail.test", "nxdomain");
  e["noaddr.mail.test"] = Domain("noaddr.mail.test", "no_address");
  json dangling = Host("dangling.mail.test", 10, {}, {});
  dangling["status"] = "no_address";
  json mx2_20 = mx2;
  mx2_20["preference"] = 20;
  e["partial.mail.test"] = Domain("partial.mail.test", "ok", {dangling, mx2_20});
  // SPF matched case-insensitively; two DMARC records: the first in byte order is kept.
  e["mixed.mail.test"] =
      Domain("mixed.mail.test", "ok", {mx2}, Policy("V=SPF1 mx -all", "v=DMARC1; p=none", "none"));
  // The only MX name lives in the SERVFAIL zone: its lookups fail, so does the domain.
  e["mxfail.mail.test"] = Domain("mxfail.mail.test", "servfail");
  e["xn--bcher-kva.mail.test"] = Domain("xn--bcher-kva.mail.test", "ok", {mx2});
  e["fail.broken.test"] = Domain("fail.broken.test", "servfail");
  e["hang.slow.test"] = Domain("hang.slow.test", "timeout");
  return e;
}

// A loopback port that was free a moment ago (UDP and TCP).
int FreePort() {
  for (;;) {
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(u, reinterpret_cast<sockaddr*>(&a), &len);
    int t = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(t);
    close(u);
    if (ok) return ntohs(a.sin_port);
  }
}

bool TcpConnects(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(s);
  return ok;
}

// unbound on 127.0.0.1:port() for the whole suite; stopped in TearDownTestSuite even on failure.
class DnsUnboundTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    // The silent upstream: bound, never read. Queries forwarded to it time out.
    silent_fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(silent_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(silent_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    silent_port_ = ntohs(a.sin_port);
    dead_port_ = FreePort();  // nothing listens there: TCP connects are refused at once
    port_ = FreePort();
    std::string d = dir_->path();
    dir_->Write("mail.test.zone", kZone);
    std::string conf = "server:\n  interface: 127.0.0.1\n  port: " + std::to_string(port_) +
                       "\n  do-ip6: no\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n"
                       "  directory: \"" +
                       d +
                       "\"\n  pidfile: \"\"\n  use-syslog: no\n"
                       "  logfile: \"\"\n  verbosity: 1\n  access-control: 127.0.0.0/8 allow\n"
                       "  do-not-query-localhost: no\n  module-config: \"iterator\"\n"
                       "  num-threads: 1\n  qname-minimisation: no\n"
                       "  local-zone: \"test.\" nodefault\n"
                       "auth-zone:\n  name: \"mail.test.\"\n  zonefile: \"" +
                       d +
                       "/mail.test.zone\"\n  for-downstream: yes\n  for-upstream: no\n"
                       "  fallback-enabled: no\n"
                       "forward-zone:\n  name: \"broken.test.\"\n  forward-addr: 127.0.0.1@" +
                       std::to_string(dead_port_) +
                       "\n  forward-tcp-upstream: yes\n"
                       "forward-zone:\n  name: \"slow.test.\"\n  forward-addr: 127.0.0.1@" +
                       std::to_string(silent_port_) +
                       "\n"
                       // Everything else goes nowhere: unbound must never leave loopback.
                       "forward-zone:\n  name: \".\"\n  forward-addr: 127.0.0.1@" +
                       std::to_string(dead_port_) +
                       "\n  forward-tcp-upstream: yes\n"
                       "remote-control:\n  control-enable: no\n";
    std::string conf_path = dir_->Write("unbound.conf", conf);
    log_path_ = d + "/unbound.log";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    std::vector<std::string> argv = {"/usr/sbin/unbound", "-d", "-c", conf_path};
    std::vector<char*> args;
    for (auto& s : argv) args.push_back(s.data());
    args.push_back(nullptr);
    int rc = posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ASSERT_EQ(rc, 0) << "cannot start unbound";
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!TcpConnects(port_)) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "unbound did not start:\n"
                                                            << ReadFile(log_path_);
      ASSERT_EQ(waitpid(pid_, nullptr, WNOHANG), 0) << "unbound exited:\n" << ReadFile(log_path_);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  static void TearDownTestSuite() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (silent_fd_ >= 0) close(silent_fd_);
    silent_fd_ = -1;
    delete dir_;
    dir_ = nullptr;
  }

  static std::string Server() { return "127.0.0.1:" + std::to_string(port_); }

  static inline TempDir* dir_ = nullptr;
  static inline pid_t pid_ = -1;
  static inline int port_ = 0;
  static inline int silent_fd_ = -1;
  static inline int silent_port_ = 0;
  static inline int dead_port_ = 0;
  static inline std::string log_path_;
};

// Runs `fn(resolver)` on a fresh loop until everything is delivered and the resolver shut down.
void WithResolver(dns::ResolverOptions opts,
                  const std::function<void(dns::DomainResolver&, std::function<void()>)>& fn) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  auto r = dns::DomainResolver::Create(&loop, std::move(opts));
  ASSERT_TRUE(r.ok()) << r.status();
  auto resolver = std::move(*r);
  bool idle = false;
  fn(*resolver, [&] { resolver->Shutdown([&] { idle = true; }); });
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_TRUE(idle);
  resolver.reset();
  EXPECT_EQ(uv_loop_close(&loop), 0) << "a handle leaked";
}

TEST_F(DnsUnboundTest, ResolveCommandMatchesEveryCaseExactly) {
  TempDir work;
  std::string list = work.Write("list.txt", kList);
  std::string out = work.path() + "/out.jsonl";
  auto r = RunMxcensus({"resolve", list, "--resolver", Server(), "--out", out, "--timeout", "300",
                        "--tries", "2", "--progress", "never"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(list + ":16: invalid character '_' in name: \"bad_name.mail.test\""),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("17 lines, 1 bad, 1 duplicates"), std::string::npos) << r.err;
  auto expected = Expected();
  std::map<std::string, json> got;
  std::string text = ReadFile(out);
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    json j = json::parse(text.substr(start, nl - start));
    start = nl + 1;
    std::string d = j.at("domain");
    EXPECT_TRUE(got.find(d) == got.end()) << "twice: " << d;
    if (d == "mixed.mail.test") {
      EXPECT_EQ(j["rank"], 7);
      EXPECT_NE(j["error"].get<std::string>().find("2 DMARC records"), std::string::npos);
    } else {
      EXPECT_TRUE(j["rank"].is_null()) << d;
    }
    if (d == "noaddr.mail.test") {
      EXPECT_EQ(j["error"], "no MX name has an address: dangling.mail.test (no_address)");
    }
    EXPECT_TRUE(ParseTimeMs(j["resolved_at"].get<std::string>()).ok()) << d;
    j.erase("resolved_at");
    j.erase("rank");
    j.erase("error");
    got[d] = j;
  }
  EXPECT_EQ(got.size(), expected.size());
  for (const auto& [domain, want] : expected) {
    auto it = got.find(domain);
    if (it == got.end()) {
      ADD_FAILURE() << "no result for " << domain;
      continue;
    }
    EXPECT_EQ(it->second, want) << domain << "\n got: " << it->second.dump()
                                << "\nwant: " << want.dump();
  }
}

TEST_F(DnsUnboundTest, SharedMxNamesAreResolvedOnceAndDoneNeverRunsInsideResolve) {
  dns::ResolverOptions opts;
  opts.servers = {Server()};
  std::vector<DomainResult> results;
  dns::ResolverStats stats;
  bool inside = false;
  int remaining = 4;
  WithResolver(opts, [&](dns::DomainResolver& r, std::function<void()> shutdown) {
    for (const char* d :
         {"multi.mail.test", "shared.mail.test", "partial.mail.test", "Bad..Name"}) {
      inside = true;
      r.Resolve(d, [&, shutdown](DomainResult&& res) {
        EXPECT_FALSE(inside) << "done ran inside Resolve()";
        results.push_back(std::move(res));
        if (--remaining == 0) {
          stats = r.stats();
          shutdown();
        }
      });
      inside = false;
    }
    EXPECT_EQ(r.in_flight(), 4u);
  });
  ASSERT_EQ(results.size(), 4u);
  // mx1, mx2, mx3 and dangling: four names looked up for five MX references.
  EXPECT_EQ(stats.host_lookups, 4u);
  EXPECT_EQ(stats.host_cache_hits + stats.host_cache_joined, 2u);
  EXPECT_EQ(stats.domains_done, 4u);
  // 3 domains x (MX + 4 TXT) + 4 names x (A + AAAA + TLSA).
  EXPECT_EQ(stats.queries.sent, 27u);
  EXPECT_EQ(stats.queries.unanswered, 0u);
  for (const auto& res : results) {
    if (res.domain == "Bad..Name") {
      EXPECT_EQ(res.status, DnsStatus::kInvalid);
      EXPECT_EQ(res.error.value_or(""), "empty label");
    } else {
      EXPECT_EQ(res.status, DnsStatus::kOk) << res.domain;
    }
  }
}

TEST_F(DnsUnboundTest, SilentResolverTimesOutAndAnotherResolverTakesOver) {
  // Only the silent socket: every query is unanswered after timeout + 2*timeout.
  dns::ResolverOptions silent;
  silent.servers = {"127.0.0.1:" + std::to_string(silent_port_)};
  silent.timeout_ms = 100;
  silent.tries = 2;
  DomainResult timed_out;
  dns::ResolverStats stats;
  auto t0 = std::chrono::steady_clock::now();
  WithResolver(silent, [&](dns::DomainResolver& r, std::function<void()> shutdown) {
    r.Resolve("multi.mail.test", [&, shutdown](DomainResult&& res) {
      timed_out = std::move(res);
      stats = r.stats();
      shutdown();
    });
  });
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_EQ(timed_out.status, DnsStatus::kTimeout);
  EXPECT_TRUE(timed_out.mx.empty());
  EXPECT_EQ(stats.queries.unanswered, 5u);
  EXPECT_EQ(stats.queries.retries, 5u);
  EXPECT_GE(ms, 250);  // 100 ms, then 200 ms (backoff)
  EXPECT_LT(ms, 3000);

  // The silent resolver first, unbound second: queries that time out at one go to the other.
  dns::ResolverOptions both;
  both.servers = {"127.0.0.1:" + std::to_string(silent_port_), Server()};
  both.timeout_ms = 100;
  both.tries = 1;
  both.window_per_server = 1;  // forces queries onto both resolvers
  std::vector<DomainResult> ok;
  int remaining = 2;
  WithResolver(both, [&](dns::DomainResolver& r, std::function<void()> shutdown) {
    for (const char* d : {"multi.mail.test", "cname.mail.test"}) {
      r.Resolve(d, [&, shutdown](DomainResult&& res) {
        ok.push_back(std::move(res));
        if (--remaining == 0) {
          stats = r.stats();
          shutdown();
        }
      });
    }
  });
  ASSERT_EQ(ok.size(), 2u);
  for (const auto& res : ok) EXPECT_EQ(res.status, DnsStatus::kOk) << res.domain;
  EXPECT_GT(stats.queries.failovers, 0u);
  EXPECT_EQ(stats.queries.unanswered, 0u);
}

TEST_F(DnsUnboundTest, BadResolverIsAUsageErrorNamingIt) {
  TempDir work;
  std::string list = work.Write("list.txt", "example.test\n");
  for (const char* bad : {"127.0.0.1:99999", "not-an-ip:53", "::1:53", "127.0.0.1:"}) {
    auto r = RunMxcensus({"resolve", list, "--resolver", bad});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find(std::string("mxcensus: error: --resolver: bad resolver address '") + bad),
              std::string::npos)
        << r.err;
    EXPECT_EQ(r.out, "");
  }
}

}  // namespace
}  // namespace mxcensus
