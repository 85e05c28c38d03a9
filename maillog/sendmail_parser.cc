// Sendmail: "STARTTLS=server|client" lines of a process joined to the from=/to= lines that the
// same process logs for the session (relay= must match), messages keyed by queue id.
#include <map>

#include "absl/strings/ascii.h"
#include "maillog/envelope.h"
#include "maillog/format_parser.h"

namespace mxcensus::maillog {
namespace {

struct ServerSession {
  uint64_t id = 0;
  std::string relay;  // "name [addr]" as logged, for matching
  std::optional<TlsInfo> tls;
};

// The relay's name and address, comparable across STARTTLS= and from=/to= lines:
// "mail.example.org [192.0.2.10] (may be forged)" -> "mail.example.org", "192.0.2.10".
HostAddr Relay(std::string_view v) {
  size_t paren = v.find(" (");
  if (paren != std::string_view::npos) v = v.substr(0, paren);
  HostAddr ha = SplitHostAddr(v);
  ha.name = absl::AsciiStrToLower(ha.name);
  return ha;
}

bool SameRelay(const HostAddr& a, const HostAddr& b) {
  if (!a.addr.empty() && !b.addr.empty()) return a.addr == b.addr;
  return !a.name.empty() && a.name == b.name;
}

bool IsLocalRelay(const HostAddr& r) {
  return r.name == "localhost" || r.addr == "127.0.0.1" || r.addr == "::1";
}

std::optional<TlsInfo> StartTlsFields(std::string_view text) {
  std::string_view version, cipher;
  if (!FieldValue(text, "version=", &version) || !FieldValue(text, "cipher=", &cipher)) {
    return std::nullopt;
  }
  return TlsInfo{NormaliseTlsVersion(version), std::string(cipher)};
}

class SendmailParser : public FormatParser {
 public:
  SendmailParser(const ParseOptions& opts, Collector* collector)
      : opts_(opts), collector_(collector) {}

  LineResult Feed(std::string_view line) override {
    LineResult early;
    auto sl = SyslogEnvelope(line, opts_, &early);
    if (!sl) return early;
    if (sl->program != "sendmail" && sl->program != "sm-mta") return {Fate::kIgnored, ""};
    time_ = sl->time;
    std::string pid(sl->pid);
    std::string_view text = sl->text;
    if (std::string_view(text).starts_with("STARTTLS=server,")) return StartTls(pid, text, true);
    if (std::string_view(text).starts_with("STARTTLS=client,")) return StartTls(pid, text, false);
    size_t c = text.find(": ");
    if (c == std::string_view::npos || c < 8 || c > 20) return {Fate::kIgnored, ""};
    std::string qid(text.substr(0, c));
    std::string_view rest = text.substr(c + 2);
    if (std::string_view(rest).starts_with("from=")) return From(pid, rest);
    if (std::string_view(rest).starts_with("to=")) return To(pid, qid, rest);
    return {Fate::kIgnored, ""};
  }

 private:
  LineResult StartTls(const std::string& pid, std::string_view text, bool server) {
    std::string_view relay;
    auto tls = StartTlsFields(text);
    if (!FieldValue(text, "relay=", &relay) || !tls) {
      return {Fate::kMalformed, "STARTTLS= without relay=, version= or cipher="};
    }
    if (server) {
      sessions_[pid] = ServerSession{++next_session_, std::string(relay), tls};
    } else {
      client_tls_[pid] = ServerSession{0, std::string(relay), tls};
    }
    return {Fate::kUsed, ""};
  }

  LineResult From(const std::string& pid, std::string_view rest) {
    std::string_view from, relay, proto, daemon;
    if (!FieldValue(rest, "from=", &from) || !FieldValue(rest, "relay=", &relay)) {
      return {Fate::kMalformed, "from= line without relay="};
    }
    FieldValue(rest, "proto=", &proto);
    FieldValue(rest, "daemon=", &daemon);
    HostAddr r = Relay(relay);
    // Mail from a peer arrives by (E)SMTP from a remote relay, unauthenticated (...SA = AUTH).
    if (!Contains(proto, "SMTP") || std::string_view(proto).ends_with("A") || IsLocalRelay(r) ||
        Contains(daemon, "MSP")) {
      return {Fate::kUsed, ""};
    }
    // A session is the process's current one while the relay is the same; a from= line from
    // another relay (a process id reused) starts a new, plain-text session.
    auto it = sessions_.find(pid);
    if (it == sessions_.end() || !SameRelay(Relay(it->second.relay), r)) {
      it = sessions_
               .insert_or_assign(pid,
                                 ServerSession{++next_session_, std::string(relay), std::nullopt})
               .first;
    }
    if (from == "<>") return {Fate::kUsed, ""};
    collector_->AddInbound(InboundMessage{std::string(from), it->second.id, it->second.tls,
                                          r.name + "[" + r.addr + "]", time_});
    return {Fate::kUsed, ""};
  }

  LineResult To(const std::string& pid, const std::string& qid, std::string_view rest) {
    std::string_view to, mailer, relay, stat;
    if (!FieldValue(rest, "to=", &to) || !FieldValue(rest, "stat=", &stat)) {
      return {Fate::kMalformed, "to= line without stat="};
    }
    stat = rest.substr(rest.find("stat=") + 5);  // the last field: may hold ", "
    FieldValue(rest, "mailer=", &mailer);
    FieldValue(rest, "relay=", &relay);
    HostAddr r = Relay(relay);
    if (mailer == "local" || mailer == "prog" || mailer == "*file*" || IsLocalRelay(r)) {
      return {Fate::kUsed, ""};
    }
    std::string_view dsn;
    FieldValue(rest, "dsn=", &dsn);
    DeliveryAttempt a;
    a.queue_id = qid;
    a.time = time_;
    a.mx_name = r.name;
    a.mx_address = r.addr;
    if (std::string_view(stat).starts_with("Sent")) {
      a.status = DeliveryStatus::kSent;
      auto it = client_tls_.find(pid);
      if (it != client_tls_.end() && SameRelay(Relay(it->second.relay), HostAddr{r.name, ""})) {
        a.tls = it->second.tls;
      }
    } else if (std::string_view(stat).starts_with("Deferred") ||
               std::string_view(dsn).starts_with("4")) {
      a.status = DeliveryStatus::kDeferred;
      a.error = std::string(stat);
    } else {
      a.status = DeliveryStatus::kBounced;
      a.error = std::string(stat);
    }
    // to=<a@x>,<b@y>: several recipients of one delivery.
    bool any = false;
    for (std::string_view list = to; !list.empty();) {
      size_t comma = list.find(',');
      a.recipient = std::string(list.substr(0, comma));
      list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
      any |= collector_->AddDelivery(a);
    }
    if (!any) return {Fate::kMalformed, "to= without a recipient domain"};
    return {Fate::kUsed, ""};
  }

  ParseOptions opts_;
  Collector* collector_;
  int64_t time_ = 0;
  uint64_t next_session_ = 0;
  std::map<std::string, ServerSession> sessions_;    // pid -> inbound session
  std::map<std::string, ServerSession> client_tls_;  // pid -> last outbound TLS connection
};

}  // namespace

std::unique_ptr<FormatParser> MakeSendmailParser(const ParseOptions& opts, Collector* collector) {
  return std::make_unique<SendmailParser>(opts, collector);
}

}  // namespace mxcensus::maillog
