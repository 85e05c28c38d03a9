// mxcensus probe: the standalone prober. ZGrab2-style targets in (ip[,name[,tag]]), one JSON
// line per target out (docs/result-schema.md), a summary by outcome on stderr.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "absl/status/status.h"
#include "cli/command.h"
#include "cli/engine_flags.h"
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
  ProbeEngineFlags engine;
  bool progress = false, no_progress = false, quiet = false;
};

absl::StatusOr<net::ProbeRunOptions> BuildOptions(const ProbeFlags& f) {
  if (f.port < 1 || f.port > 65535) return absl::InvalidArgumentError("--port must be 1..65535");
  auto engine = f.engine.Build();
  if (!engine.ok()) return engine.status();
  net::ProbeRunOptions o;
  o.engine = *std::move(engine);
  o.engine.default_port = static_cast<uint16_t>(f.port);
  o.threads = f.engine.threads;
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
  f->engine.Add(cmd);
  cmd->add_flag("--progress", f->progress, "Show the live progress line even if not a terminal");
  cmd->add_flag("--no-progress", f->no_progress, "Never show the live progress line");
  cmd->add_flag("--quiet", f->quiet, "No progress line and no summary");
  cmd->callback([&state, f] { state.exit_code = Run(*f); });
}

}  // namespace mxcensus::cli
