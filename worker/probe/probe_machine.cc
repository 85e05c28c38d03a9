#include "worker/probe/probe_machine.h"

#include <utility>

namespace mxcensus::probe {
namespace {

ProbeStage StageOf(ProbeState s) {
  switch (s) {
    case ProbeState::kIdle:
    case ProbeState::kConnecting:
      return ProbeStage::kConnect;
    case ProbeState::kAwaitBanner:
      return ProbeStage::kBanner;
    case ProbeState::kEhloSent:
      return ProbeStage::kEhlo;
    case ProbeState::kHeloSent:
      return ProbeStage::kHelo;
    case ProbeState::kStartTlsSent:
      return ProbeStage::kStartTls;
    case ProbeState::kTlsHandshake:
      return ProbeStage::kTls;
    case ProbeState::kTlsEhloSent:
      return ProbeStage::kEhloTls;
    case ProbeState::kQuitSent:
    case ProbeState::kDone:
      return ProbeStage::kQuit;
  }
  return ProbeStage::kConnect;
}

// Which transitions are legal; anything else is a bug in this file.
bool Allowed(ProbeState from, ProbeState to) {
  using S = ProbeState;
  if (to == S::kDone) return from != S::kDone;
  switch (from) {
    case S::kIdle:
      return to == S::kConnecting;
    case S::kConnecting:
      return to == S::kAwaitBanner;
    case S::kAwaitBanner:
      return to == S::kEhloSent || to == S::kQuitSent;
    case S::kEhloSent:
      return to == S::kHeloSent || to == S::kStartTlsSent || to == S::kQuitSent;
    case S::kHeloSent:
      return to == S::kQuitSent;
    case S::kStartTlsSent:
      return to == S::kTlsHandshake || to == S::kQuitSent;
    case S::kTlsHandshake:
      return to == S::kTlsEhloSent || to == S::kQuitSent;
    case S::kTlsEhloSent:
      return to == S::kQuitSent;
    case S::kQuitSent:
    case S::kDone:
      return false;
  }
  return false;
}

std::optional<double>* TimingSlot(StageTimings& t, ProbeState s) {
  switch (s) {
    case ProbeState::kConnecting:
      return &t.connect;
    case ProbeState::kAwaitBanner:
      return &t.banner;
    case ProbeState::kEhloSent:
    case ProbeState::kHeloSent:
      return &t.ehlo;  // HELO after a rejected EHLO counts as part of the greeting exchange
    case ProbeState::kStartTlsSent:
      return &t.starttls;
    case ProbeState::kTlsHandshake:
      return &t.tls;
    case ProbeState::kTlsEhloSent:
      return &t.ehlo_tls;
    case ProbeState::kQuitSent:
      return &t.quit;
    case ProbeState::kIdle:
    case ProbeState::kDone:
      return nullptr;
  }
  return nullptr;
}

std::string JoinReply(const smtp::Reply& r) {
  std::string out;
  for (size_t i = 0; i < r.lines.size(); ++i) {
    if (i > 0) out += '\n';
    out += std::to_string(r.code);
    out += i + 1 == r.lines.size() ? ' ' : '-';
    out += r.lines[i];
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

std::string_view ProbeStateName(ProbeState s) {
  switch (s) {
    case ProbeState::kIdle:
      return "idle";
    case ProbeState::kConnecting:
      return "connecting";
    case ProbeState::kAwaitBanner:
      return "await_banner";
    case ProbeState::kEhloSent:
      return "ehlo_sent";
    case ProbeState::kHeloSent:
      return "helo_sent";
    case ProbeState::kStartTlsSent:
      return "starttls_sent";
    case ProbeState::kTlsHandshake:
      return "tls_handshake";
    case ProbeState::kTlsEhloSent:
      return "tls_ehlo_sent";
    case ProbeState::kQuitSent:
      return "quit_sent";
    case ProbeState::kDone:
      return "done";
  }
  return "?";
}

ProbeMachine::ProbeMachine(const ProbeMachineOptions* options, Transport* transport,
                           ProbeResult seed, DoneFn done)
    : options_(options),
      transport_(transport),
      done_(std::move(done)),
      result_(std::move(seed)),
      parser_(options->reply_limits) {}

void ProbeMachine::Start(int64_t unix_ms) {
  result_.started_at_ms = unix_ms;
  start_us_ = transport_->NowUs();
  TransitionTo(ProbeState::kConnecting);
  transport_->Connect();
}

uint32_t ProbeMachine::DeadlineFor(ProbeState s) const {
  const ProbeTimeouts& t = options_->timeouts;
  switch (s) {
    case ProbeState::kConnecting:
      return t.connect_ms;
    case ProbeState::kAwaitBanner:
      return t.banner_ms;
    case ProbeState::kEhloSent:
    case ProbeState::kHeloSent:
    case ProbeState::kStartTlsSent:
    case ProbeState::kTlsEhloSent:
      return t.command_ms;
    case ProbeState::kTlsHandshake:
      return t.tls_ms;
    case ProbeState::kQuitSent:
      return t.quit_ms;
    case ProbeState::kIdle:
    case ProbeState::kDone:
      return 0;
  }
  return 0;
}

void ProbeMachine::TransitionTo(ProbeState next) {
  if (!Allowed(state_, next)) {
    // A bug here must not take the loop down: end the probe with what we have.
    result_.error = "internal: illegal transition " + std::string(ProbeStateName(state_)) + " -> " +
                    std::string(ProbeStateName(next));
    next = ProbeState::kDone;
  }
  uint64_t now = transport_->NowUs();
  if (auto* slot = TimingSlot(result_.timing_ms, state_)) {
    double ms = static_cast<double>(now - stage_start_us_) / 1000.0;
    *slot = slot->value_or(0) + ms;
  }
  stage_start_us_ = now;
  state_ = next;
  if (next == ProbeState::kDone) return;
  result_.stage = StageOf(next);
  transport_->ArmDeadline(DeadlineFor(next));
}

void ProbeMachine::OnConnected(ConnectResult result, std::string_view detail) {
  if (state_ != ProbeState::kConnecting) return;
  switch (result) {
    case ConnectResult::kOk:
      TransitionTo(ProbeState::kAwaitBanner);
      return;
    case ConnectResult::kRefused:
      Finish(ProbeOutcome::kConnectRefused, "connect: " + std::string(detail));
      return;
    case ConnectResult::kFailed:
      Finish(ProbeOutcome::kConnectFailed, "connect: " + std::string(detail));
      return;
  }
}

void ProbeMachine::OnBytes(std::string_view bytes) {
  bytes_received_ += bytes.size();
  if (bytes_received_ > options_->max_bytes_per_probe) {
    Abort(ProbeOutcome::kProtocolError,
          "peer sent more than " + std::to_string(options_->max_bytes_per_probe) + " bytes");
    return;
  }
  while (!bytes.empty()) {
    switch (state_) {
      case ProbeState::kIdle:
      case ProbeState::kConnecting:
      case ProbeState::kTlsHandshake:
      case ProbeState::kDone:
        return;  // not ours to read (the transport feeds TLS) or already finished
      case ProbeState::kAwaitBanner:
      case ProbeState::kEhloSent:
      case ProbeState::kHeloSent:
      case ProbeState::kStartTlsSent:
      case ProbeState::kTlsEhloSent:
      case ProbeState::kQuitSent:
        break;
    }
    smtp::ReplyParser::Step step = parser_.Feed(bytes);
    std::string_view rest = bytes.substr(step.consumed);
    switch (step.state) {
      case smtp::ReplyParser::State::kNeedMore:
        return;
      case smtp::ReplyParser::State::kError:
        Abort(ProbeOutcome::kProtocolError, parser_.error());
        return;
      case smtp::ReplyParser::State::kReply:
        HandleReply(parser_.TakeReply(), rest);
        break;
    }
    // After the 220 to STARTTLS the rest was dealt with (discarded) by OnStartTlsReply.
    if (state_ == ProbeState::kTlsHandshake || state_ == ProbeState::kDone) return;
    bytes = rest;
  }
}

void ProbeMachine::HandleReply(smtp::Reply reply, std::string_view rest) {
  switch (state_) {
    case ProbeState::kAwaitBanner:
      OnBanner(reply);
      return;
    case ProbeState::kEhloSent:
      OnEhloReply(reply);
      return;
    case ProbeState::kHeloSent:
      OnHeloReply(reply);
      return;
    case ProbeState::kStartTlsSent:
      OnStartTlsReply(reply, rest);
      return;
    case ProbeState::kTlsEhloSent:
      OnTlsEhloReply(reply);
      return;
    case ProbeState::kQuitSent:
      result_.codes.quit = reply.code;
      Finish(pending_, result_.error);
      return;
    case ProbeState::kIdle:
    case ProbeState::kConnecting:
    case ProbeState::kTlsHandshake:
    case ProbeState::kDone:
      return;
  }
}

void ProbeMachine::OnBanner(const smtp::Reply& reply) {
  result_.codes.banner = reply.code;
  result_.banner = JoinReply(reply);
  if (reply.code == 220) {
    TransitionTo(ProbeState::kEhloSent);
    SendCommand("EHLO " + options_->ehlo_name);
  } else if (reply.code >= 400) {
    QuitWith(ProbeOutcome::kBannerRejected);
  } else {
    Abort(ProbeOutcome::kProtocolError,
          "greeting code " + std::to_string(reply.code) + " is neither 220 nor 4xx/5xx");
  }
}

void ProbeMachine::OnEhloReply(const smtp::Reply& reply) {
  result_.codes.ehlo = reply.code;
  if (reply.code == 250) {
    result_.ehlo = reply.lines;
    bool offered = false;
    bool masked = false;
    for (size_t i = 1; i < reply.lines.size(); ++i) {
      offered = offered || smtp::IsStartTlsKeyword(reply.lines[i]);
      masked = masked || smtp::IsMaskedStartTls(reply.lines[i]);
    }
    if (offered) {
      TransitionTo(ProbeState::kStartTlsSent);
      SendCommand("STARTTLS");
    } else {
      QuitWith(masked ? ProbeOutcome::kStartTlsStripped : ProbeOutcome::kNoStartTls);
    }
  } else if (reply.code == 421) {
    // "Service not available, closing": the server is going away, HELO would not help.
    QuitWith(ProbeOutcome::kEhloRejected);
  } else if (reply.code >= 400) {
    result_.helo_fallback = true;
    TransitionTo(ProbeState::kHeloSent);
    SendCommand("HELO " + options_->ehlo_name);
  } else {
    Abort(ProbeOutcome::kProtocolError, "EHLO got reply code " + std::to_string(reply.code));
  }
}

void ProbeMachine::OnHeloReply(const smtp::Reply& reply) {
  result_.codes.helo = reply.code;
  if (reply.code == 250) {
    result_.ehlo = reply.lines;  // HELO has no extensions: only the greeting line
    QuitWith(ProbeOutcome::kNoStartTls);
  } else if (reply.code >= 400) {
    QuitWith(ProbeOutcome::kEhloRejected);
  } else {
    Abort(ProbeOutcome::kProtocolError, "HELO got reply code " + std::to_string(reply.code));
  }
}

void ProbeMachine::OnStartTlsReply(const smtp::Reply& reply, std::string_view rest) {
  result_.codes.starttls = reply.code;
  if (reply.code != 220) {
    QuitWith(ProbeOutcome::kStartTlsRefused);
    return;
  }
  // Anything after the 220 came from the peer (or a middlebox) before it could have seen our
  // ClientHello: record it, and never let it reach TLS (CVE-2011-0411 class).
  if (!rest.empty() || parser_.HasPartial()) result_.pipelined_after_starttls = true;
  parser_.Reset();
  TransitionTo(ProbeState::kTlsHandshake);
  transport_->StartTls(result_.name);
}

void ProbeMachine::OnTlsDone(TlsFacts facts) {
  if (state_ != ProbeState::kTlsHandshake) return;
  bool ok = facts.handshake_complete;
  result_.tls = std::move(facts);
  if (!ok) {
    // The peer now speaks TLS (or nothing): a plaintext QUIT would be garbage to it.
    Finish(ProbeOutcome::kTlsFailed,
           "tls: " + result_.tls->alert.value_or(std::string("handshake failed")));
    return;
  }
  if (options_->ehlo_over_tls) {
    TransitionTo(ProbeState::kTlsEhloSent);
    SendCommand("EHLO " + options_->ehlo_name);
  } else {
    QuitWith(ProbeOutcome::kStartTlsOk);
  }
}

void ProbeMachine::OnTlsEhloReply(const smtp::Reply& reply) {
  result_.codes.ehlo_tls = reply.code;
  if (reply.code == 250) result_.ehlo_tls = reply.lines;
  QuitWith(ProbeOutcome::kStartTlsOk);
}

void ProbeMachine::QuitWith(ProbeOutcome outcome) {
  pending_ = outcome;
  // banner_rejected and ehlo_rejected name the stage that rejected us; the QUIT we still send
  // (RFC 5321 §3.1) is politeness, not progress.
  if (outcome == ProbeOutcome::kBannerRejected || outcome == ProbeOutcome::kEhloRejected) {
    final_stage_ = result_.stage;
  }
  TransitionTo(ProbeState::kQuitSent);
  SendCommand("QUIT");
}

void ProbeMachine::OnPeerClosed(std::string_view detail) {
  switch (state_) {
    case ProbeState::kIdle:
    case ProbeState::kDone:
      return;
    case ProbeState::kTlsHandshake: {
      TlsFacts facts;
      facts.alert = "connection closed during handshake (" + std::string(detail) + ")";
      OnTlsDone(std::move(facts));
      return;
    }
    case ProbeState::kConnecting:
    case ProbeState::kAwaitBanner:
    case ProbeState::kEhloSent:
    case ProbeState::kHeloSent:
    case ProbeState::kStartTlsSent:
    case ProbeState::kTlsEhloSent:
    case ProbeState::kQuitSent:
      Abort(ProbeOutcome::kClosed, "peer closed the connection (" + std::string(detail) + ")");
      return;
  }
}

void ProbeMachine::OnDeadline() {
  switch (state_) {
    case ProbeState::kIdle:
    case ProbeState::kDone:
      return;
    case ProbeState::kTlsHandshake: {
      TlsFacts facts;
      facts.alert = "handshake timed out";
      result_.tls = std::move(facts);
      Finish(ProbeOutcome::kTimeout,
             "tls timeout after " + std::to_string(options_->timeouts.tls_ms) + " ms");
      return;
    }
    case ProbeState::kConnecting:
    case ProbeState::kAwaitBanner:
    case ProbeState::kEhloSent:
    case ProbeState::kHeloSent:
    case ProbeState::kStartTlsSent:
    case ProbeState::kTlsEhloSent:
    case ProbeState::kQuitSent:
      Abort(ProbeOutcome::kTimeout, std::string(StageName(result_.stage)) + " timeout after " +
                                        std::to_string(DeadlineFor(state_)) + " ms");
      return;
  }
}

void ProbeMachine::Abort(ProbeOutcome outcome, std::string detail) {
  switch (state_) {
    case ProbeState::kQuitSent:
      // The outcome was decided before QUIT; what QUIT gets does not change it.
      Finish(pending_, result_.error);
      return;
    case ProbeState::kTlsEhloSent:
      // The handshake completed: that is the result; the EHLO inside TLS is a bonus.
      Finish(ProbeOutcome::kStartTlsOk, "ehlo over tls: " + detail);
      return;
    case ProbeState::kIdle:
    case ProbeState::kConnecting:
    case ProbeState::kAwaitBanner:
    case ProbeState::kEhloSent:
    case ProbeState::kHeloSent:
    case ProbeState::kStartTlsSent:
    case ProbeState::kTlsHandshake:
      Finish(outcome, std::move(detail));
      return;
    case ProbeState::kDone:
      return;
  }
}

void ProbeMachine::SendCommand(std::string_view command) {
  std::string line(command);
  line += "\r\n";
  transport_->Write(line);
}

void ProbeMachine::Finish(ProbeOutcome outcome, std::optional<std::string> detail) {
  if (state_ == ProbeState::kDone) return;
  result_.outcome = outcome;
  result_.error = std::move(detail);
  TransitionTo(ProbeState::kDone);
  if (final_stage_) result_.stage = *final_stage_;
  result_.timing_ms.total = static_cast<double>(transport_->NowUs() - start_us_) / 1000.0;
  transport_->Close();
  DoneFn done = std::move(done_);
  done_ = nullptr;
  if (done) done(std::move(result_));
}

}  // namespace mxcensus::probe
