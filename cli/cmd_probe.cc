// mxcensus probe: the standalone prober. ZGrab2-style targets in (ip[,name[,tag]]), one JSON
// line per target out (docs/result-schema.md), a summary by outcome on stderr.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "absl/status/status.h"
#include "cli/command.h"
#include "cli/input_file.h"
#include "worker/net/host_name.h"
#include "worker/net/probe_runner.h"
#include "worker/probe/target_input.h"

namespace mxcensus::cli {
namespace {

struct ProbeFlags {
  std::string targets;
  int port = 25;
  std::string out;
  int threads = 1;
  size_t concurrency = 1000;
  double rate = 200;
  int per_address = 1;
  int per_prefix = 4;
  std::string blocklist;
  bool allow_private = false;
  std::string ehlo;
  std::string ca_file;
  bool no_system_trust = false;
  bool no_ehlo_tls = false;
  std::string connect_timeout = "10s", banner_timeout = "30s", command_timeout = "30s",
              tls_timeout = "15s", quit_timeout = "2s";
  size_t max_bytes = 256 * 1024;
  size_t max_line = 2048;
  bool progress = false, no_progress = false, quiet = false;
};

absl::Status SetTimeout(const std::string& flag, const std::string& text, uint32_t* ms) {
  auto v = probe::ParseDurationMs(text);
  if (!v.ok()) return absl::InvalidArgumentError(flag + ": " + std::string(v.status().message()));
  *ms = *v;
  return absl::OkStatus();
}

absl::StatusOr<net::ProbeRunOptions> BuildOptions(const ProbeFlags& f) {
  net::ProbeRunOptions o;
  auto& e = o.engine;
  for (auto [flag, text, ms] :
       {std::tuple{"--connect-timeout", &f.connect_timeout, &e.timeouts.connect_ms},
        std::tuple{"--banner-timeout", &f.banner_timeout, &e.timeouts.banner_ms},
        std::tuple{"--command-timeout", &f.command_timeout, &e.timeouts.command_ms},
        std::tuple{"--tls-timeout", &f.tls_timeout, &e.timeouts.tls_ms},
        std::tuple{"--quit-timeout", &f.quit_timeout, &e.timeouts.quit_ms}}) {
    if (auto s = SetTimeout(flag, *text, ms); !s.ok()) return s;
  }
  if (f.port < 1 || f.port > 65535) return absl::InvalidArgumentError("--port must be 1..65535");
  if (f.threads < 1 || f.threads > 64) return absl::InvalidArgumentError("--threads must be 1..64");
  if (f.concurrency < 1 || f.concurrency > 19500) {
    return absl::InvalidArgumentError(
        "--concurrency must be 1..19500 (one process holds at most ~19,900 sockets here)");
  }
  if (f.rate < 0) return absl::InvalidArgumentError("--rate must be >= 0 (0 = unlimited)");
  if (f.max_line < 512) return absl::InvalidArgumentError("--max-line must be >= 512");
  e.default_port = static_cast<uint16_t>(f.port);
  e.concurrency = f.concurrency;
  e.rate = f.rate;
  e.caps.per_address = f.per_address;
  e.caps.per_prefix = f.per_prefix;
  e.allow_private = f.allow_private;
  e.ehlo_name = f.ehlo.empty() ? net::DefaultEhloName() : f.ehlo;
  e.ca_file = f.ca_file;
  e.system_trust = !f.no_system_trust;
  e.ehlo_over_tls = !f.no_ehlo_tls;
  e.max_bytes_per_probe = f.max_bytes;
  e.reply_limits.max_line = f.max_line;
  if (!f.blocklist.empty()) {
    std::ifstream in(f.blocklist);
    if (!in) return absl::InvalidArgumentError("--blocklist " + f.blocklist + ": cannot read");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (auto s = e.blocklist.AddFromText(text, f.blocklist); !s.ok()) return s;
  }
  o.threads = f.threads;
  o.input_name = f.targets == "-" ? "<stdin>" : f.targets;
  o.progress = !f.no_progress && !f.quiet && (f.progress || isatty(STDERR_FILENO));
  return o;
}

int Run(const ProbeFlags& f) {
  auto opts = BuildOptions(f);
  if (!opts.ok()) return Fail(opts.status());
  std::ifstream file;
  std::istream* in = &std::cin;
  if (f.targets != "-") {
    file.open(f.targets);
    if (!file) return Fail(absl::InvalidArgumentError(f.targets + ": cannot read"));
    in = &file;
  }
  std::FILE* out = stdout;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> out_file(nullptr, &std::fclose);
  if (!f.out.empty() && f.out != "-") {
    out_file.reset(std::fopen(f.out.c_str(), "w"));
    if (!out_file) return Fail(absl::InvalidArgumentError("--out " + f.out + ": cannot write"));
    out = out_file.get();
  }
  static char buf[1 << 16];
  std::setvbuf(out, buf, _IOFBF, sizeof buf);
  auto summary = net::RunProbes(*opts, *in, out);
  if (!summary.ok()) return Fail(summary.status());
  std::fflush(out);
  if (std::ferror(out)) {
    PrintError("writing results failed");
    return kExitFailure;
  }
  if (!f.quiet) net::PrintSummary(*summary, stderr);
  return summary->interrupted ? 130 : kExitOk;
}

}  // namespace

void RegisterProbe(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand("probe",
                                 "Standalone prober: targets in (ip[,name[,tag]]), JSON lines out");
  auto f = std::make_shared<ProbeFlags>();
  cmd->add_option("TARGETS", f->targets, "Targets file, one ip[,name[,tag]] a line (- = stdin)")
      ->required()
      ->check(InputFile());
  cmd->add_option("--port", f->port, "SMTP port")->capture_default_str();
  cmd->add_option("--out", f->out, "Output file for the JSON lines (default stdout)");
  cmd->add_option("--threads", f->threads, "Loop threads, each with its own engine")
      ->capture_default_str();
  cmd->add_option("--concurrency", f->concurrency, "Probes in flight at most (all threads)")
      ->capture_default_str();
  cmd->add_option("--rate", f->rate, "New connections per second, all threads (0 = unlimited)")
      ->capture_default_str();
  cmd->add_option("--per-address", f->per_address, "Connections to one address at a time")
      ->capture_default_str();
  cmd->add_option("--per-prefix", f->per_prefix,
                  "Connections to one /24 (IPv4) or /48 (IPv6) at a time (0 = no cap)")
      ->capture_default_str();
  cmd->add_option("--blocklist", f->blocklist, "File of CIDRs never to contact ('#' comments)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--allow-private", f->allow_private,
                "Allow private, loopback and reserved ranges (the lab, tests)");
  cmd->add_option("--ehlo", f->ehlo, "EHLO name (default: this host's FQDN)");
  cmd->add_option("--ca-file", f->ca_file, "Extra trusted CA certificates (PEM) for chain_valid")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--no-system-trust", f->no_system_trust,
                "Verify chains against --ca-file only, not the system store");
  cmd->add_flag("--no-ehlo-tls", f->no_ehlo_tls, "Do not send EHLO again inside TLS");
  cmd->add_option("--connect-timeout", f->connect_timeout, "TCP connect timeout (10s, 500ms)")
      ->capture_default_str();
  cmd->add_option("--banner-timeout", f->banner_timeout, "Timeout for the greeting")
      ->capture_default_str();
  cmd->add_option("--command-timeout", f->command_timeout, "Timeout per EHLO/HELO/STARTTLS reply")
      ->capture_default_str();
  cmd->add_option("--tls-timeout", f->tls_timeout, "TLS handshake timeout")->capture_default_str();
  cmd->add_option("--quit-timeout", f->quit_timeout, "How long to wait for the reply to QUIT")
      ->capture_default_str();
  cmd->add_option("--max-bytes", f->max_bytes, "Bytes a peer may send in one probe")
      ->capture_default_str();
  cmd->add_option("--max-line", f->max_line, "Longest reply line accepted (RFC 5321: 512)")
      ->capture_default_str();
  cmd->add_flag("--progress", f->progress, "Show the live progress line even if not a terminal");
  cmd->add_flag("--no-progress", f->no_progress, "Never show the live progress line");
  cmd->add_flag("--quiet", f->quiet, "No progress line and no summary");
  cmd->callback([&state, f] { state.exit_code = Run(*f); });
}

}  // namespace mxcensus::cli
