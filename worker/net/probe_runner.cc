#include "worker/net/probe_runner.h"

#include <signal.h>
#include <sys/resource.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/result_json.h"
#include "worker/net/fd_limit.h"
#include "worker/net/probe_connection.h"
#include "worker/probe/target_input.h"
#include "worker/tls/chain_verifier.h"
#include "worker/tls/client_context.h"

namespace mxcensus::net {
namespace {

constexpr char kNotProbed[] = "not probed: engine shut down";
constexpr size_t kOutFlushBytes = 64 * 1024;

std::atomic<bool> g_interrupted{false};  // set by SIGINT/SIGTERM; trivially destructible

void OnSignal(int) { g_interrupted.store(true); }

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct Shared {
  std::FILE* out;
  std::mutex out_mu;
  std::mutex flow_mu;
  std::condition_variable flow_cv;
  std::atomic<uint64_t> completed{0};
  std::atomic<uint64_t> written{0};
  std::atomic<uint64_t> not_probed{0};
  std::array<std::atomic<uint64_t>, kProbeOutcomeCount> by_outcome{};
};

// One loop thread: its loop, engine, inbox and output buffer.
class LoopThread {
 public:
  LoopThread(Shared* shared, std::unique_ptr<probe::ProbeEngine> engine, uv_loop_t* loop)
      : shared_(shared), loop_(loop), engine_(std::move(engine)) {
    uv_async_init(loop_, &wake_, &LoopThread::OnWake);
    wake_.data = this;
    uv_timer_init(loop_, &check_);
    check_.data = this;
    // A steady tick notices the end of the run even when the last probe finished inside a
    // timer phase (a zero-delay check armed there runs before the probe's close callbacks),
    // and notices SIGINT/SIGTERM while the loop would otherwise sleep.
    uv_timer_init(loop_, &tick_);
    tick_.data = this;
    uv_timer_start(
        &tick_, [](uv_timer_t* t) { static_cast<LoopThread*>(t->data)->Check(); }, 100, 100);
  }

  void Start() {
    thread_ = std::thread([this] {
      uv_run(loop_, UV_RUN_DEFAULT);
      uv_loop_close(loop_);
    });
  }
  void Join() { thread_.join(); }

  // Main thread: queues targets for this loop.
  void Push(std::vector<probe::ProbeEngine::Target> batch) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& t : batch) inbox_.push_back(std::move(t));
    }
    uv_async_send(&wake_);
  }
  void InputDone() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      input_done_ = true;
    }
    uv_async_send(&wake_);
  }
  // The engine's counters, as it ended.
  const probe::ProbeEngineStats& stats() const { return stats_; }

 private:
  static void OnWake(uv_async_t* a) { static_cast<LoopThread*>(a->data)->Drain(); }

  void Drain() {
    std::vector<probe::ProbeEngine::Target> batch;
    bool done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(inbox_);
      done = input_done_;
    }
    for (auto& t : batch) {
      engine_->Submit(std::move(t), [this](ProbeResult&& r) { OnResult(std::move(r)); });
    }
    input_done_seen_ = done;
    if (g_interrupted.load() && !shutdown_called_) {
      shutdown_called_ = true;
      engine_->Shutdown([] {});
    }
    ScheduleCheck();
  }

  void OnResult(ProbeResult&& r) {
    if (r.error && *r.error == kNotProbed) {
      shared_->not_probed.fetch_add(1);
    } else {
      shared_->by_outcome[static_cast<size_t>(r.outcome)].fetch_add(1);
      AppendProbeResultJson(r, &out_);
      out_ += '\n';
      shared_->written.fetch_add(1);
      if (out_.size() >= kOutFlushBytes) Flush();
    }
    shared_->completed.fetch_add(1);
    shared_->flow_cv.notify_one();
    if (g_interrupted.load() && !shutdown_called_) {
      shutdown_called_ = true;
      engine_->Shutdown([] {});
    }
    ScheduleCheck();
  }

  // Teardown must not run inside the engine's own call stack: check from a fresh loop turn.
  void ScheduleCheck() {
    uv_timer_start(
        &check_, [](uv_timer_t* t) { static_cast<LoopThread*>(t->data)->Check(); }, 0, 0);
  }

  void Check() {
    if (!engine_) return;
    if (g_interrupted.load() && !shutdown_called_) {
      shutdown_called_ = true;
      engine_->Shutdown([] {});
    }
    if (!input_done_seen_) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!inbox_.empty()) return;
    }
    if (engine_->queued() > 0 || engine_->in_flight() > 0) return;
    Flush();
    stats_ = engine_->stats();
    engine_.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
  }

  void Flush() {
    if (out_.empty()) return;
    std::lock_guard<std::mutex> lock(shared_->out_mu);
    std::fwrite(out_.data(), 1, out_.size(), shared_->out);
    out_.clear();
  }

  Shared* shared_;
  uv_loop_t* loop_;
  std::unique_ptr<probe::ProbeEngine> engine_;
  uv_async_t wake_;
  uv_timer_t check_;
  uv_timer_t tick_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<probe::ProbeEngine::Target> inbox_;  // GUARDED_BY(mu_)
  bool input_done_ = false;                        // GUARDED_BY(mu_)
  bool input_done_seen_ = false;                   // loop thread
  bool shutdown_called_ = false;
  std::string out_;
  probe::ProbeEngineStats stats_;
};

void ProgressLine(const Shared& s, uint64_t read, bool input_done, double secs) {
  uint64_t done = s.completed.load();
  std::string counts;
  for (int i = 0; i < kProbeOutcomeCount; ++i) {
    uint64_t n = s.by_outcome[i].load();
    if (n == 0) continue;
    counts += ' ';
    counts += OutcomeName(static_cast<ProbeOutcome>(i));
    counts += '=';
    counts += std::to_string(n);
  }
  std::fprintf(stderr, "\r\033[K%llu/%llu%s  %.0f/s %s", static_cast<unsigned long long>(done),
               static_cast<unsigned long long>(read), input_done ? "" : "+",
               secs > 0 ? done / secs : 0.0, counts.c_str());
  std::fflush(stderr);
}

}  // namespace

absl::StatusOr<ProbeRunSummary> RunProbes(const ProbeRunOptions& options, std::istream& in,
                                          std::FILE* out) {
  RaiseDescriptorLimit();
  const int n_threads = std::max(1, options.threads);
  probe::ProbeEngineOptions base = options.engine;
  if (!base.tls_context) {
    auto ctx = tls::ClientContext::Create();
    if (!ctx.ok()) return ctx.status();
    base.tls_context = *ctx;
  }
  if (!base.verifier) {
    auto v = tls::ChainVerifier::Create({base.system_trust, base.ca_file});
    if (!v.ok()) return v.status();
    base.verifier = *v;
  }
  base.rate = options.engine.rate / n_threads;
  base.concurrency = std::max<size_t>(1, options.engine.concurrency / n_threads);
  base.slow_concurrency = probe::PerThreadSlowConcurrency(options.engine, n_threads);

  Shared shared;
  shared.out = out;
  std::vector<std::unique_ptr<uv_loop_t>> loops;
  std::vector<std::unique_ptr<LoopThread>> threads;
  for (int i = 0; i < n_threads; ++i) {
    loops.push_back(std::make_unique<uv_loop_t>());
    uv_loop_init(loops.back().get());
    auto engine = probe::ProbeEngine::Create(loops.back().get(), base);
    if (!engine.ok()) {
      for (auto& l : loops) uv_loop_close(l.get());
      return engine.status();
    }
    threads.push_back(
        std::make_unique<LoopThread>(&shared, *std::move(engine), loops.back().get()));
  }
  g_interrupted.store(false);
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sa.sa_flags = SA_RESETHAND;  // a second ^C kills at once
  struct sigaction old_int {
  }, old_term{};
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  signal(SIGPIPE, SIG_IGN);

  auto t0 = std::chrono::steady_clock::now();
  double cpu0 = CpuSeconds();
  for (auto& t : threads) t->Start();

  std::atomic<bool> reading{true};
  std::atomic<uint64_t> read_count{0};
  std::thread progress;
  if (options.progress) {
    progress = std::thread([&] {
      while (true) {
        {
          std::unique_lock<std::mutex> lock(shared.flow_mu);
          shared.flow_cv.wait_for(lock, std::chrono::milliseconds(500));
        }
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        bool all = !reading.load() && shared.completed.load() >= read_count.load();
        ProgressLine(shared, read_count.load(), !reading.load(), secs);
        if (all) break;
      }
      std::fprintf(stderr, "\n");
    });
  }

  ProbeRunSummary summary;
  const uint64_t window = std::max<uint64_t>(4 * options.engine.concurrency, 10000);
  std::vector<std::vector<probe::ProbeEngine::Target>> batches(n_threads);
  auto flush_batches = [&] {
    for (int i = 0; i < n_threads; ++i) {
      if (!batches[i].empty()) threads[i]->Push(std::move(batches[i]));
      batches[i].clear();
    }
  };
  std::string line;
  uint64_t line_no = 0;
  politeness::ConcurrencyGate prefixer(base.caps);
  while (!g_interrupted.load() && std::getline(in, line)) {
    ++line_no;
    auto parsed = probe::ParseTargetLine(line);
    if (!parsed.ok()) {
      ++summary.bad_lines;
      std::fprintf(stderr, "mxcensus: error: %s:%llu: %s (line skipped)\n",
                   options.input_name.c_str(), static_cast<unsigned long long>(line_no),
                   std::string(parsed.status().message()).c_str());
      continue;
    }
    if (!parsed->has_value()) continue;
    probe::TargetLine& tl = **parsed;
    auto addr = IpAddress::Parse(tl.ip);
    size_t shard = IpAddressHash()(prefixer.PrefixOf(*addr)) % n_threads;
    batches[shard].push_back(
        probe::ProbeEngine::Target{std::move(tl.ip), 0, std::move(tl.name), std::move(tl.tag), 0});
    ++summary.targets;
    read_count.store(summary.targets);
    if (summary.targets % 256 == 0) flush_batches();
    // Backpressure: never hold more than `window` targets beyond those completed.
    if (summary.targets - shared.completed.load() >= window) {
      flush_batches();
      std::unique_lock<std::mutex> lock(shared.flow_mu);
      shared.flow_cv.wait_for(lock, std::chrono::milliseconds(50), [&] {
        return summary.targets - shared.completed.load() < window || g_interrupted.load();
      });
    }
  }
  flush_batches();
  reading.store(false);
  for (auto& t : threads) t->InputDone();
  for (auto& t : threads) t->Join();
  shared.flow_cv.notify_all();
  if (progress.joinable()) progress.join();
  std::fflush(out);
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);

  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  summary.cpu_seconds = CpuSeconds() - cpu0;
  summary.results = shared.written.load();
  summary.not_probed = shared.not_probed.load();
  summary.interrupted = g_interrupted.load();
  for (int i = 0; i < kProbeOutcomeCount; ++i) summary.by_outcome[i] = shared.by_outcome[i].load();
  for (auto& t : threads) {
    summary.tls_handshakes += t->stats().tls_handshakes;
    summary.moved_to_slow += t->stats().moved_to_slow;
    summary.deadlines_extended += t->stats().deadlines_extended;
  }
  for (auto& l : loops) uv_loop_close(l.get());
  return summary;
}

void PrintSummary(const ProbeRunSummary& s, std::FILE* to) {
  std::fprintf(to, "mxcensus probe: %llu results in %.1f s (%.0f/s, %.0f us CPU per probe)",
               static_cast<unsigned long long>(s.results), s.seconds,
               s.seconds > 0 ? s.results / s.seconds : 0.0,
               s.results > 0 ? s.cpu_seconds * 1e6 / s.results : 0.0);
  if (s.bad_lines > 0) {
    std::fprintf(to, ", %llu input line%s skipped", static_cast<unsigned long long>(s.bad_lines),
                 s.bad_lines == 1 ? "" : "s");
  }
  if (s.moved_to_slow > 0) {
    std::fprintf(to, ", %llu waited past --slow-after (slow budget)",
                 static_cast<unsigned long long>(s.moved_to_slow));
  }
  if (s.deadlines_extended > 0) {
    std::fprintf(to,
                 ", %llu deadlines given more time (fired %llu ms or more late: the process "
                 "stalled; or the peer's answer was waiting unread)",
                 static_cast<unsigned long long>(s.deadlines_extended),
                 static_cast<unsigned long long>(kLoopStallMs));
  }
  if (s.interrupted) {
    std::fprintf(to, ", interrupted: %llu targets not probed",
                 static_cast<unsigned long long>(s.not_probed));
  }
  std::fprintf(to, "\n");
  for (int i = 0; i < kProbeOutcomeCount; ++i) {
    if (s.by_outcome[i] == 0) continue;
    std::fprintf(to, "  %-18s %8llu\n",
                 std::string(OutcomeName(static_cast<ProbeOutcome>(i))).c_str(),
                 static_cast<unsigned long long>(s.by_outcome[i]));
  }
}

}  // namespace mxcensus::net
