// The implementation of probe::ProbeEngine (worker/probe/engine.h). It lives under worker/net/
// because it owns libuv handles; worker/probe/ stays free of uv.h and OpenSSL.
#include <uv.h>

#include <deque>
#include <unordered_map>

#include "worker/net/probe_connection.h"
#include "worker/politeness/rate_limiter.h"
#include "worker/politeness/slot_budget.h"
#include "worker/probe/engine.h"
#include "worker/tls/client_context.h"

namespace mxcensus::probe {
namespace {

constexpr size_t kReadBufferSize = 64 * 1024;

int64_t UnixMs() {
  uv_timeval64_t tv;
  uv_gettimeofday(&tv);
  return tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

}  // namespace

class ProbeEngine::Impl {
 public:
  Impl(uv_loop_t* loop, ProbeEngineOptions opts);
  ~Impl();
  absl::Status Init();

  void Submit(Target target, DoneFn done);
  void Shutdown(std::function<void()> on_idle);
  size_t in_flight() const { return in_flight_; }
  size_t slow() const { return budget_.slow_in_use(); }
  size_t queued() const { return queued_; }
  ProbeEngineStats stats() const {
    // The counters kept elsewhere are read when asked, so a reading is never behind them.
    ProbeEngineStats s = stats_;
    s.tls_handshakes = shared_.tls_handshakes;
    s.deadlines_extended = shared_.deadlines_extended;
    s.moved_to_slow = budget_.moved_total();
    return s;
  }

 private:
  struct Pending {
    Target target;
    DoneFn done;
    IpAddress addr;
    bool checked = false;
  };
  // One probe in flight: connection, machine and budget entry in one allocation.
  struct Active : politeness::SlotBudget::Entry {
    Active(Impl* impl, Pending&& p, const sockaddr_storage& peer);
    Impl* impl;
    IpAddress addr;
    DoneFn done;
    net::ProbeConnection conn;
    ProbeMachine machine;
  };

  // A libuv timer callback running a member function (the timer's data is the Impl).
  template <void (Impl::*Fn)()>
  static void Fire(uv_timer_t* t) {
    (static_cast<Impl*>(t->data)->*Fn)();
  }
  void SchedulePump(uint64_t delay_ms);
  void OnPumpTimer();
  void Pump();
  // Returns false when the head of the queue must wait (concurrency or rate).
  bool TryStartFront();
  void CompleteWithoutProbe(Pending p, ProbeOutcome outcome, std::string error);
  void OnActiveClosed(Active* a);
  void Unpark(std::unordered_map<IpAddress, std::deque<Pending>, IpAddressHash>* parked,
              const IpAddress& key);
  void MaybeIdle();
  // Keeps the slow-budget timer armed for the budget's next due probe.
  void ArmSweep();
  void OnSweep();
  void OnProgressed(Active* a);

  uv_loop_t* loop_;
  ProbeEngineOptions opts_;
  ProbeMachineOptions machine_opts_;
  net::LoopShared shared_;
  politeness::TargetPolicy policy_;
  politeness::ConcurrencyGate gate_;
  politeness::RateLimiter limiter_;
  politeness::SlotBudget budget_;
  uv_timer_t* pump_timer_ = nullptr;  // heap: its close completes after this object is gone
  bool pump_scheduled_ = false;
  uv_timer_t* sweep_timer_ = nullptr;  // heap, as pump_timer_
  bool sweep_armed_ = false;
  std::deque<Pending> ready_;
  std::unordered_map<IpAddress, std::deque<Pending>, IpAddressHash> parked_by_address_;
  std::unordered_map<IpAddress, std::deque<Pending>, IpAddressHash> parked_by_prefix_;
  size_t in_flight_ = 0;
  size_t queued_ = 0;
  bool shutting_down_ = false;
  std::function<void()> on_idle_;
  ProbeEngineStats stats_;
};

ProbeEngine::Impl::Impl(uv_loop_t* loop, ProbeEngineOptions opts)
    : loop_(loop),
      opts_(std::move(opts)),
      policy_(opts_.blocklist, opts_.allow_private),
      gate_(opts_.caps),
      limiter_(opts_.rate, opts_.burst > 0 ? opts_.burst : std::max(1.0, opts_.rate / 20)),
      budget_({.concurrency = opts_.concurrency,
               .slow_concurrency = ResolvedSlowConcurrency(opts_),
               .slow_after_us = uint64_t{opts_.slow_after_ms} * 1000}) {
  machine_opts_.timeouts = opts_.timeouts;
  machine_opts_.ehlo_name = opts_.ehlo_name;
  machine_opts_.reply_limits = opts_.reply_limits;
  machine_opts_.max_bytes_per_probe = opts_.max_bytes_per_probe;
  machine_opts_.ehlo_over_tls = opts_.ehlo_over_tls;
}

absl::Status ProbeEngine::Impl::Init() {
  if (opts_.ehlo_name.empty()) return absl::InvalidArgumentError("the EHLO name is empty");
  // A host name or an address literal ("[192.0.2.1]"): nothing that could smuggle a second
  // command (CR, LF, spaces) into the session.
  if (opts_.ehlo_name.size() > 255 ||
      opts_.ehlo_name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789.-_[]:") != std::string::npos) {
    return absl::InvalidArgumentError("the EHLO name \"" + opts_.ehlo_name.substr(0, 64) +
                                      "\" is not a host name or address literal");
  }
  if (opts_.concurrency == 0) return absl::InvalidArgumentError("concurrency must be > 0");
  if (!opts_.tls_context) {
    auto ctx = tls::ClientContext::Create();
    if (!ctx.ok()) return ctx.status();
    opts_.tls_context = *ctx;
  }
  if (!opts_.verifier) {
    auto v = tls::ChainVerifier::Create({opts_.system_trust, opts_.ca_file});
    if (!v.ok()) return v.status();
    opts_.verifier = *v;
  }
  shared_.loop = loop_;
  shared_.ssl_ctx = opts_.tls_context->get();
  shared_.verifier = opts_.verifier.get();
  shared_.read_buf.reset(new char[kReadBufferSize]);
  shared_.read_buf_size = kReadBufferSize;
  pump_timer_ = new uv_timer_t;
  uv_timer_init(loop_, pump_timer_);
  pump_timer_->data = this;
  sweep_timer_ = new uv_timer_t;
  uv_timer_init(loop_, sweep_timer_);
  sweep_timer_->data = this;
  return absl::OkStatus();
}

ProbeEngine::Impl::~Impl() {
  for (uv_timer_t* t : {pump_timer_, sweep_timer_}) {
    if (!t) continue;
    uv_timer_stop(t);
    uv_close(reinterpret_cast<uv_handle_t*>(t),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  }
}

ProbeEngine::Impl::Active::Active(Impl* i, Pending&& p, const sockaddr_storage& peer)
    : impl(i),
      addr(p.addr),
      done(std::move(p.done)),
      conn(
          &i->shared_, peer,
          [](void* arg) {
            auto* self = static_cast<Active*>(arg);
            self->impl->OnActiveClosed(self);
          },
          this),
      machine(&i->machine_opts_, &conn,
              ProbeResult{.ip = std::move(p.target.ip),
                          .port = p.target.port,
                          .name = std::move(p.target.name),
                          .tag = std::move(p.target.tag),
                          .target_id = p.target.target_id},
              [this](ProbeResult&& r) {
                ++impl->stats_.completed;
                DoneFn d = std::move(done);
                done = nullptr;
                d(std::move(r));
              }) {
  conn.Attach(&machine);
  if (i->budget_.enabled()) {
    conn.OnFirstWrite([](void* arg) {
      auto* self = static_cast<Active*>(arg);
      self->impl->OnProgressed(self);
    });
  }
}

void ProbeEngine::Impl::Submit(Target target, DoneFn done) {
  if (target.port == 0) target.port = opts_.default_port;
  ++stats_.submitted;
  ++queued_;
  ready_.push_back(Pending{std::move(target), std::move(done), IpAddress(), false});
  SchedulePump(0);
}

void ProbeEngine::Impl::SchedulePump(uint64_t delay_ms) {
  if (pump_scheduled_ && delay_ms > 0) return;
  pump_scheduled_ = true;
  uv_timer_start(pump_timer_, &Impl::Fire<&Impl::OnPumpTimer>, delay_ms, 0);
}

void ProbeEngine::Impl::OnPumpTimer() {
  pump_scheduled_ = false;
  Pump();
}

void ProbeEngine::Impl::Pump() {
  while (!ready_.empty()) {
    if (shutting_down_) {
      CompleteWithoutProbe(std::move(ready_.front()), ProbeOutcome::kBlocked,
                           "not probed: engine shut down");
      ready_.pop_front();
      continue;
    }
    if (!TryStartFront()) break;
  }
  if (shutting_down_) {
    for (auto* parked : {&parked_by_address_, &parked_by_prefix_}) {
      for (auto& [key, q] : *parked) {
        for (auto& p : q) {
          CompleteWithoutProbe(std::move(p), ProbeOutcome::kBlocked,
                               "not probed: engine shut down");
        }
      }
      parked->clear();
    }
  }
  MaybeIdle();
}

bool ProbeEngine::Impl::TryStartFront() {
  Pending& p = ready_.front();
  if (!p.checked) {
    auto addr = IpAddress::Parse(p.target.ip);
    if (!addr) {
      CompleteWithoutProbe(std::move(p), ProbeOutcome::kConnectFailed, "invalid IP address");
      ready_.pop_front();
      return true;
    }
    p.addr = *addr;
    p.checked = true;
    if (auto reason = policy_.BlockReason(p.addr)) {
      CompleteWithoutProbe(std::move(p), ProbeOutcome::kBlocked, *reason);
      ready_.pop_front();
      return true;
    }
  }
  if (!budget_.HasMainSlot()) return false;
  uint64_t now_us = uv_hrtime() / 1000;
  if (uint64_t wait = limiter_.WaitUs(now_us); wait > 0) {
    SchedulePump((wait + 999) / 1000);
    return false;
  }
  switch (gate_.TryAcquire(p.addr)) {
    case politeness::ConcurrencyGate::Verdict::kAddressBusy:
      parked_by_address_[p.addr].push_back(std::move(p));
      ready_.pop_front();
      return true;
    case politeness::ConcurrencyGate::Verdict::kPrefixBusy:
      parked_by_prefix_[gate_.PrefixOf(p.addr)].push_back(std::move(p));
      ready_.pop_front();
      return true;
    case politeness::ConcurrencyGate::Verdict::kAcquired:
      break;
  }
  limiter_.TryTake(now_us);
  sockaddr_storage peer{};
  if (p.addr.family == 4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&peer);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(p.target.port);
    std::memcpy(&sin->sin_addr, p.addr.bytes.data(), 4);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&peer);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(p.target.port);
    std::memcpy(&sin6->sin6_addr, p.addr.bytes.data(), 16);
  }
  auto* active = new Active(this, std::move(p), peer);
  ready_.pop_front();
  --queued_;
  ++in_flight_;
  ++stats_.started;
  budget_.Take(active, now_us);
  ArmSweep();
  active->machine.Start(UnixMs());
  return true;
}

void ProbeEngine::Impl::ArmSweep() {
  if (sweep_armed_) return;
  auto due = budget_.NextDueUs();
  if (!due) return;
  uint64_t now_us = uv_hrtime() / 1000;
  uint64_t delay_ms = *due > now_us ? (*due - now_us + 999) / 1000 : 0;
  sweep_armed_ = true;
  uv_timer_start(sweep_timer_, &Impl::Fire<&Impl::OnSweep>, delay_ms, 0);
}

void ProbeEngine::Impl::OnSweep() {
  sweep_armed_ = false;
  size_t moved = budget_.Sweep(uv_hrtime() / 1000);
  ArmSweep();
  if (moved > 0) Pump();  // their main slots are free for queued targets
}

void ProbeEngine::Impl::OnProgressed(Active* a) {
  // Inside the machine's event handling: only bookkeeping here, no probe starts.
  if (budget_.Progressed(a)) ArmSweep();
}

void ProbeEngine::Impl::CompleteWithoutProbe(Pending p, ProbeOutcome outcome, std::string error) {
  ProbeResult r;
  r.ip = std::move(p.target.ip);
  r.port = p.target.port;
  r.name = std::move(p.target.name);
  r.tag = std::move(p.target.tag);
  r.target_id = p.target.target_id;
  r.outcome = outcome;
  r.stage = ProbeStage::kConnect;
  r.error = std::move(error);
  r.started_at_ms = UnixMs();
  --queued_;
  ++stats_.completed;
  p.done(std::move(r));
}

void ProbeEngine::Impl::OnActiveClosed(Active* a) {
  IpAddress addr = a->addr;
  const bool was_slow = a->slow();
  budget_.Release(a);
  delete a;
  --in_flight_;
  if (was_slow) ArmSweep();  // a slow slot is free: a waiting probe may move
  if (in_flight_ == 0 && sweep_armed_) {
    uv_timer_stop(sweep_timer_);  // nothing to watch: let an idle loop end
    sweep_armed_ = false;
  }
  gate_.Release(addr);
  Unpark(&parked_by_address_, addr);
  Unpark(&parked_by_prefix_, gate_.PrefixOf(addr));
  Pump();
}

void ProbeEngine::Impl::Unpark(
    std::unordered_map<IpAddress, std::deque<Pending>, IpAddressHash>* parked,
    const IpAddress& key) {
  auto it = parked->find(key);
  if (it == parked->end()) return;
  ready_.push_front(std::move(it->second.front()));
  it->second.pop_front();
  if (it->second.empty()) parked->erase(it);
}

void ProbeEngine::Impl::Shutdown(std::function<void()> on_idle) {
  shutting_down_ = true;
  on_idle_ = std::move(on_idle);
  SchedulePump(0);
}

void ProbeEngine::Impl::MaybeIdle() {
  if (!shutting_down_ || in_flight_ > 0 || queued_ > 0 || !on_idle_) return;
  auto cb = std::move(on_idle_);
  on_idle_ = nullptr;
  cb();
}

absl::StatusOr<std::unique_ptr<ProbeEngine>> ProbeEngine::Create(uv_loop_t* loop,
                                                                 ProbeEngineOptions opts) {
  auto impl = std::make_unique<Impl>(loop, std::move(opts));
  if (auto s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<ProbeEngine>(new ProbeEngine(std::move(impl)));
}

ProbeEngine::ProbeEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProbeEngine::~ProbeEngine() = default;
void ProbeEngine::Submit(Target target, DoneFn done) {
  impl_->Submit(std::move(target), std::move(done));
}
size_t ProbeEngine::in_flight() const { return impl_->in_flight(); }
size_t ProbeEngine::slow() const { return impl_->slow(); }
size_t ProbeEngine::queued() const { return impl_->queued(); }
ProbeEngineStats ProbeEngine::stats() const { return impl_->stats(); }
void ProbeEngine::Shutdown(std::function<void()> on_idle) { impl_->Shutdown(std::move(on_idle)); }

}  // namespace mxcensus::probe
