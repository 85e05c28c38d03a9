#include "cli/engine_flags.h"

#include <tuple>

#include "common/file_util.h"
#include "worker/net/fd_limit.h"
#include "worker/net/host_name.h"
#include "worker/probe/target_input.h"

namespace mxcensus::cli {
namespace {

std::string CeilingText(size_t ceiling) {
  return " (one socket per probe, and this process may open " + std::to_string(ceiling) +
         " for probes: the hard descriptor limit, ulimit -Hn, less " +
         std::to_string(net::kReservedDescriptors) + "; raise it with LimitNOFILE= or ulimit -Hn)";
}

}  // namespace

void ProbeEngineFlags::Add(CLI::App* cmd) {
  cmd->add_option("--threads", threads, "Loop threads, each with its own engine (one per core)")
      ->capture_default_str();
  cmd->add_option("--concurrency", concurrency, "Probes in flight at most (all threads)")
      ->capture_default_str();
  cmd->add_option("--slow-concurrency", slow_concurrency,
                  "Probes still waiting for connect or greeting after --slow-after that leave "
                  "the --concurrency budget (all threads; 0 = off; default: 2 x --concurrency, "
                  "within the sockets the descriptor limit allows)");
  cmd->add_option("--slow-after", slow_after,
                  "How long a probe may wait for its connect and greeting before it moves to "
                  "the slow budget (0 = never; timeouts are unchanged)")
      ->capture_default_str();
  cmd->add_option("--rate", rate, "New connections per second, all threads (0 = unlimited)")
      ->capture_default_str();
  cmd->add_option("--per-address", per_address, "Connections to one address at a time")
      ->capture_default_str();
  cmd->add_option("--per-prefix", per_prefix,
                  "Connections to one /24 (IPv4) or /48 (IPv6) at a time (0 = no cap)")
      ->capture_default_str();
  cmd->add_option("--blocklist", blocklist, "File of CIDRs never to contact ('#' comments)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--allow-private", allow_private,
                "Allow private, loopback and reserved ranges (the lab, tests)");
  cmd->add_option("--ehlo", ehlo, "EHLO name (default: this host's FQDN)");
  cmd->add_option("--ca-file", ca_file, "Extra trusted CA certificates (PEM) for chain_valid")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--no-system-trust", no_system_trust,
                "Verify chains against --ca-file only, not the system store");
  cmd->add_flag("--no-ehlo-tls", no_ehlo_tls, "Do not send EHLO again inside TLS");
  cmd->add_option("--connect-timeout", connect_timeout, "TCP connect timeout (10s, 500ms)")
      ->capture_default_str();
  cmd->add_option("--banner-timeout", banner_timeout, "Timeout for the greeting")
      ->capture_default_str();
  cmd->add_option("--command-timeout", command_timeout, "Timeout per EHLO/HELO/STARTTLS reply")
      ->capture_default_str();
  cmd->add_option("--tls-timeout", tls_timeout, "TLS handshake timeout")->capture_default_str();
  cmd->add_option("--quit-timeout", quit_timeout, "How long to wait for the reply to QUIT")
      ->capture_default_str();
  cmd->add_option("--max-bytes", max_bytes, "Bytes a peer may send in one probe")
      ->capture_default_str();
  cmd->add_option("--max-line", max_line, "Longest reply line accepted (RFC 5321: 512)")
      ->capture_default_str();
}

absl::StatusOr<probe::ProbeEngineOptions> ProbeEngineFlags::Build() const {
  probe::ProbeEngineOptions e;
  for (auto [flag, text, ms] :
       {std::tuple{"--connect-timeout", &connect_timeout, &e.timeouts.connect_ms},
        std::tuple{"--banner-timeout", &banner_timeout, &e.timeouts.banner_ms},
        std::tuple{"--command-timeout", &command_timeout, &e.timeouts.command_ms},
        std::tuple{"--tls-timeout", &tls_timeout, &e.timeouts.tls_ms},
        std::tuple{"--quit-timeout", &quit_timeout, &e.timeouts.quit_ms}}) {
    auto v = probe::ParseDurationMs(*text);
    if (!v.ok()) {
      return absl::InvalidArgumentError(std::string(flag) + ": " +
                                        std::string(v.status().message()));
    }
    *ms = *v;
  }
  if (threads < 1 || threads > 64) return absl::InvalidArgumentError("--threads must be 1..64");
  const size_t max_sockets = net::ProbeSocketCeiling();
  if (concurrency < 1 || concurrency > max_sockets) {
    return absl::InvalidArgumentError("--concurrency must be 1.." + std::to_string(max_sockets) +
                                      CeilingText(max_sockets));
  }
  if (slow_concurrency < -1) return absl::InvalidArgumentError("--slow-concurrency must be >= 0");
  // --concurrency and the slow budget share the process's descriptors.
  size_t slow = slow_concurrency < 0 ? std::min(2 * concurrency, max_sockets - concurrency)
                                     : static_cast<size_t>(slow_concurrency);
  if (slow_concurrency >= 0 && concurrency + slow > max_sockets) {
    return absl::InvalidArgumentError(
        "--concurrency + --slow-concurrency must be <= " + std::to_string(max_sockets) +
        CeilingText(max_sockets) + "; got " + std::to_string(concurrency) + " + " +
        std::to_string(slow));
  }
  auto slow_after_ms =
      slow_after == "0" ? absl::StatusOr<uint32_t>(0u) : probe::ParseDurationMs(slow_after);
  if (!slow_after_ms.ok()) {
    return absl::InvalidArgumentError("--slow-after: " +
                                      std::string(slow_after_ms.status().message()));
  }
  if (*slow_after_ms > 0 && *slow_after_ms >= e.timeouts.connect_ms + e.timeouts.banner_ms) {
    return absl::InvalidArgumentError(
        "--slow-after must be shorter than --connect-timeout + --banner-timeout (else no probe "
        "ever moves); use 0 to turn the slow budget off");
  }
  e.slow_concurrency = slow;
  e.slow_after_ms = *slow_after_ms;
  if (rate < 0) return absl::InvalidArgumentError("--rate must be >= 0 (0 = unlimited)");
  if (max_line < 512) return absl::InvalidArgumentError("--max-line must be >= 512");
  e.concurrency = concurrency;
  e.rate = rate;
  e.caps.per_address = per_address;
  e.caps.per_prefix = per_prefix;
  e.allow_private = allow_private;
  e.ehlo_name = ehlo.empty() ? net::DefaultEhloName() : ehlo;
  e.ca_file = ca_file;
  e.system_trust = !no_system_trust;
  e.ehlo_over_tls = !no_ehlo_tls;
  e.max_bytes_per_probe = max_bytes;
  e.reply_limits.max_line = max_line;
  if (!blocklist.empty()) {
    auto text = ReadWholeFile("--blocklist", blocklist);
    if (!text.ok()) return text.status();
    if (auto s = e.blocklist.AddFromText(*text, blocklist); !s.ok()) return s;
  }
  return e;
}

void DnsFlags::Add(CLI::App* cmd) {
  cmd->add_option("--resolver", resolvers,
                  "DNS resolver IP:PORT (repeatable; default: the system's)");
  cmd->add_option("--dns-timeout", timeout_ms, "First DNS attempt timeout in ms")
      ->capture_default_str();
  cmd->add_option("--dns-tries", tries, "DNS attempts per query and resolver")
      ->capture_default_str();
  cmd->add_flag("--no-ipv6", no_ipv6, "Do not look up AAAA records");
}

absl::StatusOr<dns::ResolverOptions> DnsFlags::Build() const {
  dns::ResolverOptions o;
  for (const auto& r : resolvers) {
    auto addr = dns::ParseResolverAddress(r);
    if (!addr.ok()) {
      return absl::InvalidArgumentError("--resolver " + r + ": " +
                                        std::string(addr.status().message()));
    }
  }
  o.servers = resolvers;
  o.timeout_ms = timeout_ms;
  o.tries = tries;
  o.want_ipv6 = !no_ipv6;
  return o;
}

absl::StatusOr<worker::WorkerNodeOptions> EngineFlags::Build() const {
  worker::WorkerNodeOptions o;
  auto p = probe.Build();
  if (!p.ok()) return p.status();
  auto d = dns.Build();
  if (!d.ok()) return d.status();
  o.threads = probe.threads;
  o.probe = *std::move(p);
  o.dns = *std::move(d);
  return o;
}

}  // namespace mxcensus::cli
