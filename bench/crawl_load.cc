// Load generator for the coordinator: starts a crawl of N synthetic domains (streamed through
// StartCrawl) and plays W workers over the real gRPC Session protocol, answering every
// assignment at once with synthetic results (each domain its own MX host and address, so N
// domains give N probe targets; every probe a STARTTLS success with a two-certificate chain).
// No network probing happens: this measures the coordinator and its database path at full
// speed, e.g. its RSS for a 1M-target crawl that no lab on this machine could serve.
//   bench_crawl_load COORDINATOR_ADDR DOMAINS [WORKERS=2]
// Prints the crawl id, then the elapsed time once the crawl is finished.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "proto/convert.h"
#include "proto/mxcensus.grpc.pb.h"

using namespace mxcensus;

namespace {

std::string Domain(int64_t i) { return "d" + std::to_string(i) + ".load.example"; }

// 10.0.0.0/8 addresses from the domain's index ("d<i>.load.example").
std::string AddressOf(const std::string& domain) {
  const int64_t i = std::atoll(domain.c_str() + 1);
  return "10." + std::to_string((i >> 16) & 255) + "." + std::to_string((i >> 8) & 255) + "." +
         std::to_string(i & 255);
}

v1::DomainResult Resolved(const std::string& domain) {
  DomainResult d;
  d.domain = domain;
  d.status = DnsStatus::kOk;
  MxHost h;
  h.name = "mx." + domain;
  h.preference = 10;
  h.status = DnsStatus::kOk;
  h.ipv4 = {AddressOf(domain)};
  d.mx.push_back(h);
  d.policy.spf = "v=spf1 -all";
  d.resolved_at_ms = 1795867200000;
  v1::DomainResult out;
  ToProto(d, &out);
  return out;
}

v1::ProbeResult Probed(const v1::ProbeTarget& t) {
  ProbeResult r;
  r.ip = t.ip();
  r.port = static_cast<uint16_t>(t.port());
  r.name = t.name();
  r.target_id = t.target_id();
  r.outcome = ProbeOutcome::kStartTlsOk;
  r.stage = ProbeStage::kQuit;
  r.banner = "220 " + r.name + " ESMTP";
  r.ehlo = {r.name, "PIPELINING", "STARTTLS", "8BITMIME"};
  r.codes.banner = 220;
  r.codes.ehlo = 250;
  r.codes.starttls = 220;
  TlsFacts tls;
  tls.version = "TLSv1.3";
  tls.cipher = "TLS_AES_256_GCM_SHA384";
  tls.chain_der = {std::string(1200, static_cast<char>('a' + t.target_id() % 26)) +
                       std::to_string(t.target_id() % 1000),
                   std::string(1100, 'I')};
  CertSummary leaf;
  leaf.subject = "CN=" + r.name;
  leaf.sans = {r.name};
  tls.leaf = leaf;
  tls.chain_valid = true;
  tls.handshake_complete = true;
  r.tls = tls;
  r.started_at_ms = 1795867200000;
  v1::ProbeResult out;
  ToProto(r, &out);
  return out;
}

// One fake worker: answers every assignment with one batch per 250 items.
void Worker(v1::Coordinator::Stub& stub, int n, std::atomic<bool>& stop) {
  grpc::ClientContext ctx;
  auto stream = stub.Session(&ctx);
  v1::WorkerMessage hello;
  hello.mutable_hello()->set_worker_id("load-" + std::to_string(n));
  stream->Write(hello);
  v1::WorkerMessage credit;
  credit.mutable_credit()->set_shards(4);
  stream->Write(credit);
  uint64_t batch_id = 0;
  v1::CoordinatorMessage in;
  std::thread stopper([&] {
    while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ctx.TryCancel();
  });
  while (stream->Read(&in)) {
    if (!in.has_assign()) continue;
    const auto& a = in.assign();
    const bool resolve = a.has_resolve();
    const int items = resolve ? a.resolve().domains_size() : a.probe().targets_size();
    for (int from = 0; from < items || (from == 0 && items == 0); from += 250) {
      v1::WorkerMessage m;
      auto* b = m.mutable_results();
      b->set_batch_id(++batch_id);
      b->set_crawl_id(a.crawl_id());
      b->set_shard_id(a.shard_id());
      b->set_lease_token(a.lease_token());
      b->set_kind(resolve ? v1::SHARD_KIND_RESOLVE : v1::SHARD_KIND_PROBE);
      for (int i = from; i < std::min(items, from + 250); ++i) {
        if (resolve) {
          *b->add_domains() = Resolved(a.resolve().domains(i));
        } else {
          *b->add_probes() = Probed(a.probe().targets(i));
        }
      }
      b->set_shard_complete(from + 250 >= items);
      if (!stream->Write(m)) break;
      if (items == 0) break;
    }
    v1::WorkerMessage more;
    more.mutable_credit()->set_shards(1);
    stream->Write(more);
  }
  stop = true;
  stopper.join();
  (void)stream->Finish();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_crawl_load COORDINATOR_ADDR DOMAINS [WORKERS]\n");
    return 2;
  }
  const std::string address = argv[1];
  const int64_t domains = std::atoll(argv[2]);
  const int workers = argc > 3 ? std::atoi(argv[3]) : 2;
  auto stub =
      v1::Coordinator::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  const auto start = std::chrono::steady_clock::now();
  v1::StartCrawlResponse resp;
  {
    grpc::ClientContext ctx;
    auto writer = stub->StartCrawl(&ctx, &resp);
    v1::StartCrawlRequest m;
    m.set_name("load " + std::to_string(domains));
    m.set_port(25);
    for (int64_t i = 0; i < domains; ++i) {
      m.add_domains(Domain(i));
      if (m.domains_size() == 10000 || i + 1 == domains) {
        if (!writer->Write(m)) break;
        m.Clear();
      }
    }
    writer->WritesDone();
    auto st = writer->Finish();
    if (!st.ok()) {
      fprintf(stderr, "StartCrawl: %s\n", st.error_message().c_str());
      return 1;
    }
  }
  printf("crawl %llu: %llu domains uploaded in %.1f s\n",
         static_cast<unsigned long long>(resp.crawl_id()),
         static_cast<unsigned long long>(resp.domains()),
         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  fflush(stdout);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) threads.emplace_back([&, w] { Worker(*stub, w, stop); });
  int rc = 0;
  while (!stop) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    grpc::ClientContext ctx;
    v1::CrawlStatusRequest req;
    req.set_crawl_id(resp.crawl_id());
    v1::CrawlStatus s;
    if (!stub->GetCrawlStatus(&ctx, req, &s).ok()) continue;
    if (s.state() == v1::CRAWL_FINISHED || s.state() == v1::CRAWL_FAILED ||
        s.state() == v1::CRAWL_CANCELLED) {
      rc = s.state() == v1::CRAWL_FINISHED ? 0 : 1;
      printf("crawl %llu %s: %llu domains resolved, %llu targets probed, %.1f s\n",
             static_cast<unsigned long long>(s.crawl_id()),
             s.state() == v1::CRAWL_FINISHED ? "finished" : "did not finish",
             static_cast<unsigned long long>(s.domains_resolved()),
             static_cast<unsigned long long>(s.targets_probed()),
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      stop = true;
    }
  }
  for (auto& t : threads) t.join();
  return rc;
}
