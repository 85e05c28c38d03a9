// mxcensus resolve: the standalone resolver. Reads a domain list, resolves every domain's MX set,
// addresses, TLSA and policy records (worker/dns), and writes one JSON line per domain
// (docs/result-schema.md, "Domain results"), in completion order.
#include <unistd.h>
#include <uv.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/input_file.h"
#include "common/domain_input.h"
#include "common/result_json.h"
#include "worker/dns/resolver.h"

namespace mxcensus::cli {
namespace {

struct ResolveFlags {
  std::string domains;
  std::vector<std::string> resolvers;
  std::string out;
  int timeout_ms = 2000;
  int tries = 3;
  int window = 150;
  int concurrency = 2000;
  bool no_tlsa = false;
  std::string progress = "auto";
};

// One run of the command: the loop, the resolver, the input reader and the output.
class ResolveRun {
 public:
  ResolveRun(const ResolveFlags& flags, std::istream& in, FILE* out)
      : flags_(flags),
        reader_(in, flags.domains, [this](const DomainInputError& e) { ReportBadLine(e); }),
        out_(out) {}

  int Run();

 private:
  void ReportBadLine(const DomainInputError& e);
  void Feed();
  void OnResult(DomainResult&& r, int64_t rank);
  void MaybeFinish();
  void PrintProgress(bool final_line);
  void PrintSummary();

  const ResolveFlags& flags_;
  DomainListReader reader_;
  FILE* out_;
  uv_loop_t loop_;
  uv_timer_t progress_timer_;
  bool show_progress_ = false;
  std::unique_ptr<dns::DomainResolver> resolver_;
  bool input_done_ = false;
  bool shutting_down_ = false;
  bool write_failed_ = false;
  bool feeding_ = false;
  uint64_t written_ = 0;
  std::array<uint64_t, kDnsStatusCount> by_status_{};
  uint64_t start_ms_ = 0;
  dns::ResolverStats final_stats_;
};

void ResolveRun::ReportBadLine(const DomainInputError& e) {
  PrintError(e.file + ":" + std::to_string(e.line) + ": " + e.reason + ": \"" + e.text +
             "\" (line skipped)");
}

void ResolveRun::Feed() {
  if (feeding_) return;
  feeding_ = true;
  while (!input_done_ && !shutting_down_ && !write_failed_ &&
         resolver_->in_flight() < static_cast<size_t>(flags_.concurrency)) {
    auto entry = reader_.Next();
    if (!entry) {
      input_done_ = true;
      break;
    }
    int64_t rank = entry->rank;
    resolver_->Resolve(std::move(entry->domain),
                       [this, rank](DomainResult&& r) { OnResult(std::move(r), rank); });
  }
  feeding_ = false;
  MaybeFinish();
}

void ResolveRun::OnResult(DomainResult&& r, int64_t rank) {
  r.rank = rank;
  ++by_status_[static_cast<size_t>(r.status)];
  std::string line =
      DomainResultToJson(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  if (!write_failed_ && std::fwrite(line.data(), 1, line.size(), out_) != line.size()) {
    write_failed_ = true;
    PrintError("cannot write the output: " + std::string(strerror(errno)));
  }
  ++written_;
  Feed();
}

void ResolveRun::MaybeFinish() {
  if (shutting_down_ || !(input_done_ || write_failed_) || resolver_->in_flight() != 0) return;
  shutting_down_ = true;
  final_stats_ = resolver_->stats();
  resolver_->Shutdown([this] {
    if (show_progress_) {
      uv_timer_stop(&progress_timer_);
      uv_close(reinterpret_cast<uv_handle_t*>(&progress_timer_), nullptr);
    }
  });
}

void ResolveRun::PrintProgress(bool final_line) {
  double secs = static_cast<double>(uv_now(&loop_) - start_ms_) / 1000.0;
  std::fprintf(stderr, "\r\033[Kresolve: %llu done, %zu in flight, %.0f domains/s",
               static_cast<unsigned long long>(written_), resolver_->in_flight(),
               secs > 0 ? static_cast<double>(written_) / secs : 0.0);
  if (final_line) std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
}

void ResolveRun::PrintSummary() {
  uv_update_time(&loop_);
  double secs = static_cast<double>(uv_now(&loop_) - start_ms_) / 1000.0;
  const auto& s = final_stats_;
  const auto& in = reader_.stats();
  std::string by;
  for (int i = 0; i < kDnsStatusCount; ++i) {
    if (by_status_[i] == 0) continue;
    if (!by.empty()) by += ", ";
    by +=
        std::string(DnsStatusName(static_cast<DnsStatus>(i))) + " " + std::to_string(by_status_[i]);
  }
  std::fprintf(stderr,
               "resolve: %llu domains in %.2f s (%.0f/s): %s\n"
               "resolve: queries %llu sent, %llu answered, %llu retried, %llu unanswered; "
               "MX names %llu looked up, %llu reused\n"
               "resolve: input %lld lines, %lld bad, %lld duplicates\n",
               static_cast<unsigned long long>(written_), secs,
               secs > 0 ? static_cast<double>(written_) / secs : 0.0, by.empty() ? "-" : by.c_str(),
               static_cast<unsigned long long>(s.queries.sent),
               static_cast<unsigned long long>(s.queries.answered),
               static_cast<unsigned long long>(s.queries.retries),
               static_cast<unsigned long long>(s.queries.unanswered),
               static_cast<unsigned long long>(s.host_lookups),
               static_cast<unsigned long long>(s.host_cache_hits + s.host_cache_joined),
               static_cast<long long>(in.lines), static_cast<long long>(in.errors),
               static_cast<long long>(in.duplicates));
}

int ResolveRun::Run() {
  if (int rc = uv_loop_init(&loop_); rc != 0) {
    return Fail(absl::InternalError(std::string("uv_loop_init: ") + uv_err_name(rc)));
  }
  dns::ResolverOptions opts;
  opts.servers = flags_.resolvers;
  opts.timeout_ms = flags_.timeout_ms;
  opts.tries = flags_.tries;
  opts.window_per_server = flags_.window;
  opts.want_tlsa = !flags_.no_tlsa;
  auto resolver = dns::DomainResolver::Create(&loop_, opts);
  if (!resolver.ok()) {
    uv_loop_close(&loop_);
    return Fail(resolver.status());
  }
  resolver_ = std::move(*resolver);
  show_progress_ = flags_.progress == "always" || (flags_.progress == "auto" && isatty(2));
  start_ms_ = uv_now(&loop_);
  if (show_progress_) {
    uv_timer_init(&loop_, &progress_timer_);
    progress_timer_.data = this;
    uv_timer_start(
        &progress_timer_,
        [](uv_timer_t* t) { static_cast<ResolveRun*>(t->data)->PrintProgress(false); }, 500, 500);
  }
  Feed();
  uv_run(&loop_, UV_RUN_DEFAULT);
  if (show_progress_) PrintProgress(true);
  resolver_.reset();
  int close_rc = uv_loop_close(&loop_);
  if (std::fflush(out_) != 0 && !write_failed_) {
    write_failed_ = true;
    PrintError("cannot write the output: " + std::string(strerror(errno)));
  }
  PrintSummary();
  if (close_rc != 0) PrintError("internal: event loop not empty at exit");
  if (!reader_.status().ok()) {
    PrintError(std::string(reader_.status().message()));
    return kExitFailure;
  }
  return write_failed_ ? kExitFailure : kExitOk;
}

int RunResolve(const ResolveFlags& flags) {
  for (const auto& r : flags.resolvers) {
    if (auto canon = dns::ParseResolverAddress(r); !canon.ok()) {
      return Fail(
          absl::InvalidArgumentError("--resolver: " + std::string(canon.status().message())));
    }
  }
  std::ifstream file;
  std::istream* in = &std::cin;
  if (flags.domains != "-") {
    file.open(flags.domains, std::ios::binary);
    if (!file) {
      return Fail(absl::InvalidArgumentError("cannot open " + flags.domains + ": " +
                                             std::string(strerror(errno))));
    }
    in = &file;
  }
  FILE* out = stdout;
  if (!flags.out.empty() && flags.out != "-") {
    out = std::fopen(flags.out.c_str(), "w");
    if (out == nullptr) {
      return Fail(absl::InvalidArgumentError("cannot write " + flags.out + ": " +
                                             std::string(strerror(errno))));
    }
  }
  static char buffer[1 << 20];
  std::setvbuf(out, buffer, _IOFBF, sizeof buffer);
  int rc;
  {
    ResolveRun run(flags, *in, out);
    rc = run.Run();
  }
  if (out != stdout && std::fclose(out) != 0) {
    PrintError("cannot write " + flags.out + ": " + std::string(strerror(errno)));
    rc = kExitFailure;
  }
  return rc;
}

}  // namespace

void RegisterResolve(CLI::App& app, RunState& state) {
  auto* cmd = app.add_subcommand(
      "resolve", "Standalone resolver: MX/A/AAAA/TLSA/policy records, one JSON line per domain");
  auto flags = std::make_shared<ResolveFlags>();
  cmd->add_option("DOMAINS", flags->domains,
                  "Domain list: one a line, or Tranco `rank,domain` CSV; # comments (- = stdin)")
      ->required()
      ->check(InputFile());
  cmd->add_option("--resolver", flags->resolvers,
                  "Resolver IP:PORT or [IPv6]:PORT, repeatable (default: /etc/resolv.conf)");
  cmd->add_option("--out", flags->out, "Output file (default stdout)");
  cmd->add_option("--timeout", flags->timeout_ms,
                  "First-try timeout per query, ms (doubles "
                  "on each retry)")
      ->check(CLI::Range(10, 60000));
  cmd->add_option("--tries", flags->tries, "Attempts per query and resolver")
      ->check(CLI::Range(1, 10));
  cmd->add_option("--window", flags->window, "Queries in flight per resolver")
      ->check(CLI::Range(1, 10000));
  cmd->add_option("--concurrency", flags->concurrency, "Domains in flight")
      ->check(CLI::Range(1, 1000000));
  cmd->add_flag("--no-tlsa", flags->no_tlsa, "Skip the DANE TLSA lookups");
  cmd->add_option("--progress", flags->progress,
                  "Progress line on stderr: auto (a terminal), "
                  "always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  cmd->callback([&state, flags] { state.exit_code = RunResolve(*flags); });
}

}  // namespace mxcensus::cli
