// mxcensus lab: the simulated mail world on loopback (SMTP hosts, DNS, ground truth).
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "cli/command.h"
#include "cli/input_file.h"
#include "lab/lab_runner.h"

namespace mxcensus::cli {
namespace {

struct LabFlags {
  uint32_t hosts = 1000;
  uint64_t seed = 1;
  std::string out;
  std::string base = "127.20.0.0";
  int port = 2525;
  std::string dns = "127.0.0.1:5353";
  std::string mix;
  uint32_t domains = 0;
  int procs = 0;
  uint32_t drift = 0;
  uint64_t drift_seed = 1;
  std::string drift_mix;
};

// A mix file's weights; the error is printed.
std::optional<lab::ProfileMix> ReadMix(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  auto mix = lab::ParseMix(text.str(), path);
  if (!mix.ok()) {
    PrintError(std::string(mix.status().message()));
    return std::nullopt;
  }
  return *mix;
}

int Run(const LabFlags& f) {
  lab::LabOptions o;
  o.world.hosts = f.hosts;
  o.world.seed = f.seed;
  o.out_dir = f.out;
  auto base = lab::ParseIpv4(f.base);
  if (!base || (*base >> 24) != 127) {
    PrintError(absl::StrCat("--base: '", f.base, "' is not an address of 127.0.0.0/8"));
    return kExitUsage;
  }
  o.world.base = *base;
  if (f.port < 1 || f.port > 65535) {
    PrintError(absl::StrCat("--port: ", f.port, " is not a TCP port"));
    return kExitUsage;
  }
  o.world.port = static_cast<uint16_t>(f.port);
  size_t colon = f.dns.rfind(':');
  auto dns_ip = lab::ParseIpv4(f.dns.substr(0, colon == std::string::npos ? f.dns.size() : colon));
  int dns_port = colon == std::string::npos ? 53 : std::atoi(f.dns.c_str() + colon + 1);
  if (!dns_ip || (*dns_ip >> 24) != 127 || dns_port < 1 || dns_port > 65535) {
    PrintError(absl::StrCat("--dns: '", f.dns, "' is not IP:PORT on 127.0.0.0/8"));
    return kExitUsage;
  }
  o.dns_ip = lab::Ipv4String(*dns_ip);
  o.dns_port = static_cast<uint16_t>(dns_port);
  if (!f.mix.empty()) {
    auto mix = ReadMix(f.mix);
    if (!mix) return kExitUsage;
    o.world.mix = *mix;
  }
  if (!f.drift_mix.empty()) {
    o.world.drift_mix = ReadMix(f.drift_mix);
    if (!o.world.drift_mix) return kExitUsage;
  }
  o.world.drift_per_mille = f.drift * 10;
  o.world.drift_seed = f.drift_seed;
  if (f.domains > 0) o.world.domains = f.domains;
  o.procs = f.procs;
  return lab::RunLab(o);
}

}  // namespace

void RegisterLab(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand(
      "lab", "Run the simulated mail world on loopback (SMTP hosts, DNS, ground truth)");
  cmd->footer(
      "Writes DIR/truth.jsonl, DIR/targets.csv, DIR/domains.txt and DIR/ca.pem, prints one\n"
      "'ready ...' line on stdout when every listener is up, stops on SIGINT/SIGTERM.\n"
      "Host i listens on BASE+i+1:PORT. See docs/lab.md for the catalogue and the files.");
  auto f = std::make_shared<LabFlags>();
  cmd->add_option("--hosts", f->hosts, "Number of SMTP hosts (1..1000000)")
      ->default_val(1000)
      ->check(CLI::Range(1u, 1000000u));
  cmd->add_option("--seed", f->seed, "Seed of the world (same seed, same world)")->default_val(1);
  cmd->add_option("--out", f->out, "Directory for the certificates and the truth files")
      ->required();
  cmd->add_option("--base", f->base, "Base address: host i is at BASE+i+1")
      ->default_val("127.20.0.0");
  cmd->add_option("--port", f->port, "TCP port every host listens on")->default_val(2525);
  cmd->add_option("--dns", f->dns, "Address of the authoritative DNS server (UDP and TCP)")
      ->default_val("127.0.0.1:5353");
  cmd->add_option("--mix", f->mix, "Profile weights: 'profile weight' per line")
      ->check(CLI::ExistingFile);
  cmd->add_option("--domains", f->domains, "Number of domains (default: 2 x hosts)");
  cmd->add_option("--drift", f->drift,
                  "The same world later: PCT% of the hosts get another profile (from "
                  "--drift-mix), PCT% of the domains gain or lose MTA-STS or TLS-RPT")
      ->check(CLI::Range(0, 100));
  cmd->add_option("--drift-seed", f->drift_seed, "Seed of the drift")->default_val(1);
  cmd->add_option("--drift-mix", f->drift_mix,
                  "Profile weights the drifted hosts are drawn from (default: --mix)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--procs", f->procs, "Serving processes (default: max(2, hosts/6000 rounded up))")
      ->check(CLI::Range(1, 64));
  cmd->callback([f, &state] { state.exit_code = Run(*f); });
}

}  // namespace mxcensus::cli
