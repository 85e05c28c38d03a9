#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "worker/probe/probe_machine.h"
#include "worker/probe/transport.h"

namespace mxcensus::probe::testing {

// Records what the machine asks of the network; the test plays the server.
class FakeTransport : public Transport {
 public:
  void Connect() override { ++connects; }
  void Write(std::string_view bytes) override { writes.emplace_back(bytes); }
  void StartTls(const std::string& sni) override {
    tls_started = true;
    this->sni = sni;
  }
  void ArmDeadline(uint32_t ms) override { deadlines.push_back(ms); }
  void Close() override { ++closes; }
  uint64_t NowUs() override { return now_us += 250; }  // time moves on with every look

  std::string LastWrite() const { return writes.empty() ? "" : writes.back(); }

  int connects = 0;
  int closes = 0;
  bool tls_started = false;
  std::string sni;
  std::vector<std::string> writes;
  std::vector<uint32_t> deadlines;
  uint64_t now_us = 1000000;
};

// A machine wired to a FakeTransport, with the result captured.
struct MachineHarness {
  explicit MachineHarness(ProbeMachineOptions o = DefaultOptions())
      : options(std::move(o)), machine(&options, &transport, Seed(), [this](ProbeResult&& r) {
          ++done_calls;
          result = std::move(r);
        }) {}

  static ProbeMachineOptions DefaultOptions() {
    ProbeMachineOptions o;
    o.ehlo_name = "probe.test";
    return o;
  }
  static ProbeResult Seed() {
    ProbeResult r;
    r.ip = "192.0.2.1";
    r.port = 25;
    r.name = "mx.example.test";
    return r;
  }
  static TlsFacts GoodTls() {
    TlsFacts f;
    f.handshake_complete = true;
    f.version = "TLSv1.3";
    f.cipher = "TLS_AES_256_GCM_SHA384";
    f.group = "x25519";
    f.chain_valid = true;
    f.name_match = true;
    return f;
  }
  void Connect() {
    machine.Start(1700000000000);
    machine.OnConnected(ConnectResult::kOk, "");
  }

  ProbeMachineOptions options;
  FakeTransport transport;
  ProbeMachine machine;
  ProbeResult result;
  int done_calls = 0;
};

}  // namespace mxcensus::probe::testing
