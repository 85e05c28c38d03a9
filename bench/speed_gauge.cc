// The machine's speed over time, read independently of what is being measured: every INTERVAL
// ms it times a fixed unit of work (one X25519 key agreement and a SHA-256 of 4 KiB: the
// arithmetic of a TLS handshake) by this thread's CPU time, and prints
//   <unix time, seconds> <CPU ns per unit>
// one line per sample. On a VM whose host is shared, the same instructions take a varying
// amount of CPU time (the hypervisor's other tenants do not show as steal here); a stage's mean
// over a standalone run's is that slowdown. The work is cache-resident and the thread CPU
// clock counts only time on a core, so other programs on this machine move it little: they
// take the gauge's turns, not its speed (three busy loops beside it moved it by under 4%). It
// sees the arithmetic's speed only: in scripts/bench-pipeline's runs the probe's rate drifted by
// more than this did, so the bench prints it beside each stage as a diagnostic and divides
// nothing by it. Costs ~1% of one core at the defaults.
//   bench_speed_gauge [INTERVAL_MS=250] [UNITS=40]
#include <openssl/evp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <thread>

#include "common/fn_deleter.h"
#include "worker/tls/session_facts.h"

namespace {

using mxcensus::tls::Sha256Digest;
using Pkey = std::unique_ptr<EVP_PKEY, mxcensus::FnDeleter<EVP_PKEY_free>>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, mxcensus::FnDeleter<EVP_PKEY_CTX_free>>;

double ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

double UnixSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const int interval_ms = argc > 1 ? std::atoi(argv[1]) : 250;
  const int units = argc > 2 ? std::atoi(argv[2]) : 40;
  if (interval_ms < 1 || units < 1) {
    std::fprintf(stderr, "usage: bench_speed_gauge [INTERVAL_MS >= 1] [UNITS >= 1]\n");
    return 2;
  }
  Pkey ours(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
  Pkey peer(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
  PkeyCtx ctx(ours ? EVP_PKEY_CTX_new(ours.get(), nullptr) : nullptr);
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1) {
    std::fprintf(stderr, "bench_speed_gauge: cannot set up X25519 in this OpenSSL\n");
    return 1;
  }
  std::string block(4096, '\x5a');
  unsigned char secret[32];
  unsigned sink = 0;  // keeps the work observable, so it cannot be optimized away
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  for (;;) {
    const double c0 = ThreadCpuNs();
    for (int i = 0; i < units; ++i) {
      size_t len = sizeof secret;
      if (EVP_PKEY_derive(ctx.get(), secret, &len) != 1) {
        std::fprintf(stderr, "bench_speed_gauge: the key agreement failed\n");
        return 1;
      }
      block[static_cast<size_t>(i) % block.size()] ^= static_cast<char>(secret[0]);
      sink += static_cast<unsigned char>(Sha256Digest(block)[0]);
    }
    const double c1 = ThreadCpuNs();
    std::printf("%.3f %.0f\n", UnixSeconds(), (c1 - c0) / units + (sink == ~0u ? 1 : 0));
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
}
