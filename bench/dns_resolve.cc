// bench_dns_resolve: resolves a domain list fully (MX + addresses + TLSA + policy TXT) through
// DomainResolver on one libuv loop, against one resolver, and prints throughput, retries,
// unanswered queries, the CPU µs per query of this process and of the server (by pid), and, with
// --truth, how many domains differ from the lab's ground truth. scripts/bench-dns drives it
// against `mxcensus lab`.
//
//   bench_dns_resolve --domains DIR/domains.txt --resolver 127.0.0.1:25453
//       [--truth DIR/truth.jsonl] [--server-pid PID] [--window 150] [--timeout 250] [--tries 2]
//       [--concurrency 4000]
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "bench/proc_cpu.h"
#include "common/domain_input.h"
#include "common/result_json.h"
#include "worker/dns/resolver.h"

namespace {

using mxcensus::DomainResult;
namespace dns = mxcensus::dns;

struct Args {
  std::string domains, resolver, truth;
  long server_pid = 0;
  int window = 150, timeout_ms = 250, tries = 2, concurrency = 4000;
};

bool ParseArgs(int argc, char** argv, Args* a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--domains")
      a->domains = v;
    else if (k == "--resolver")
      a->resolver = v;
    else if (k == "--truth")
      a->truth = v;
    else if (k == "--server-pid")
      a->server_pid = std::atol(v.c_str());
    else if (k == "--window")
      a->window = std::atoi(v.c_str());
    else if (k == "--timeout")
      a->timeout_ms = std::atoi(v.c_str());
    else if (k == "--tries")
      a->tries = std::atoi(v.c_str());
    else if (k == "--concurrency")
      a->concurrency = std::atoi(v.c_str());
    else
      return false;
  }
  return !a->domains.empty() && !a->resolver.empty();
}

double SelfCpuUs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec +
         ru.ru_stime.tv_usec;
}

// utime + stime of a process, in µs; -1 when unreadable.
double ProcessCpuUs(long pid) {
  const double s = mxcensus::bench::ProcessCpuSeconds(pid);
  return s < 0 ? -1 : s * 1e6;
}

// The truth lines of the domains, without the fields a run may differ in.
std::map<std::string, nlohmann::json> ReadTruth(const std::string& path) {
  std::map<std::string, nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || j.value("kind", "") != "domain") continue;
    for (const char* k : {"kind", "resolved_at", "rank", "error"}) j.erase(k);
    std::string domain = j.at("domain").get<std::string>();
    out[domain] = std::move(j);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: bench_dns_resolve --domains FILE --resolver IP:PORT [--truth FILE] "
                 "[--server-pid PID] [--window N] [--timeout MS] [--tries N] "
                 "[--concurrency N]\n");
    return 2;
  }
  std::vector<std::string> domains;
  {
    std::ifstream in(args.domains);
    auto st = mxcensus::ReadDomainList(
        in, args.domains, [&](const std::string& d, int64_t) { domains.push_back(d); },
        [](const mxcensus::DomainInputError& e) {
          std::fprintf(stderr, "%s:%d: %s\n", e.file.c_str(), e.line, e.reason.c_str());
        });
    if (!st.ok() || domains.empty()) {
      std::fprintf(stderr, "cannot read %s\n", args.domains.c_str());
      return 2;
    }
  }
  auto truth = args.truth.empty() ? std::map<std::string, nlohmann::json>() : ReadTruth(args.truth);

  uv_loop_t loop;
  uv_loop_init(&loop);
  dns::ResolverOptions opts;
  opts.servers = {args.resolver};
  opts.window_per_server = args.window;
  opts.timeout_ms = args.timeout_ms;
  opts.tries = args.tries;
  auto created = dns::DomainResolver::Create(&loop, opts);
  if (!created.ok()) {
    std::fprintf(stderr, "%s\n", std::string(created.status().message()).c_str());
    return 2;
  }
  auto resolver = std::move(*created);
  size_t next = 0, done = 0, mismatches = 0, unexpected_timeouts = 0;
  std::map<std::string, int> by_status;
  dns::ResolverStats stats;
  std::function<void()> feed;
  std::vector<DomainResult> results;  // compared with the truth after the clock stops
  results.reserve(domains.size());
  auto on_result = [&](DomainResult&& r) {
    ++done;
    ++by_status[std::string(mxcensus::DnsStatusName(r.status))];
    if (!truth.empty()) results.push_back(std::move(r));
    feed();
  };
  feed = [&] {
    while (next < domains.size() && resolver->in_flight() < static_cast<size_t>(args.concurrency)) {
      resolver->Resolve(domains[next++], on_result);
    }
    if (next == domains.size() && resolver->in_flight() == 0 && done == domains.size()) {
      stats = resolver->stats();
      resolver->Shutdown([] {});
    }
  };
  double server0 = ProcessCpuUs(args.server_pid);
  double self0 = SelfCpuUs();
  auto t0 = std::chrono::steady_clock::now();
  feed();
  uv_run(&loop, UV_RUN_DEFAULT);
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double self_us = SelfCpuUs() - self0;
  double server_us = args.server_pid > 0 ? ProcessCpuUs(args.server_pid) - server0 : -1;
  resolver.reset();
  uv_loop_close(&loop);
  for (const auto& r : results) {
    auto j = mxcensus::DomainResultToJson(r);
    for (const char* k : {"resolved_at", "rank", "error"}) j.erase(k);
    auto it = truth.find(r.domain);
    if (it == truth.end() || it->second != j) {
      ++mismatches;
      if (r.status == mxcensus::DnsStatus::kTimeout) ++unexpected_timeouts;
      if (mismatches <= 5) {
        std::fprintf(stderr, "mismatch %s\n  got:   %s\n  truth: %s\n", r.domain.c_str(),
                     j.dump().c_str(), it == truth.end() ? "-" : it->second.dump().c_str());
      }
    }
  }

  const auto& q = stats.queries;
  std::printf("domains            %zu in %.3f s: %.0f domains/s\n", done, wall, done / wall);
  std::printf("queries            %llu sent, %.0f queries/s, %.2f per domain\n",
              static_cast<unsigned long long>(q.sent), q.sent / wall,
              static_cast<double>(q.sent) / static_cast<double>(done));
  std::printf("retries            %llu\n", static_cast<unsigned long long>(q.retries));
  std::printf("unanswered         %llu (timeout or unreachable after every try)\n",
              static_cast<unsigned long long>(q.unanswered));
  std::printf("MX names           %llu looked up, %llu reused\n",
              static_cast<unsigned long long>(stats.host_lookups),
              static_cast<unsigned long long>(stats.host_cache_hits + stats.host_cache_joined));
  std::printf("by status         ");
  for (const auto& [s, n] : by_status) std::printf(" %s=%d", s.c_str(), n);
  std::printf("\n");
  std::printf("CPU mxcensus       %.2f µs/query, %.1f µs/domain (%.3f s)\n", self_us / q.sent,
              self_us / done, self_us / 1e6);
  if (server_us >= 0) {
    std::printf("CPU server (pid %ld) %.2f µs/query (%.3f s)\n", args.server_pid,
                server_us / q.sent, server_us / 1e6);
  }
  if (!truth.empty()) {
    std::printf("truth              %zu of %zu domains match, %zu differ (%zu of them timeouts)\n",
                done - mismatches, done, mismatches, unexpected_timeouts);
  }
  return mismatches == 0 ? 0 : 1;
}
