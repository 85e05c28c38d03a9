// Postfix: smtpd sessions (by process id) joined to queue ids (client=), the sender from qmgr,
// and smtp/lmtp delivery lines joined to the TLS connection their process logged before.
#include <map>

#include "maillog/envelope.h"
#include "maillog/format_parser.h"

namespace mxcensus::maillog {
namespace {

struct Session {
  uint64_t id = 0;
  std::string client;  // "name[addr]"
  std::optional<TlsInfo> tls;
};

struct QueuedMessage {
  uint64_t session = 0;
  std::string client;
  std::optional<TlsInfo> tls;
  bool submission = false;  // authenticated (sasl_username): our own user, not a peer
  bool counted = false;
};

// The smtp client's last TLS connection: "name[addr]:port" and its parameters.
struct ClientTls {
  std::string peer;
  TlsInfo tls;
};

// "Untrusted TLS connection established to mx[1.2.3.4]:25: TLSv1.3 with cipher X (256/256 bits)"
// -> direction ("from"/"to"), peer, tls. False when the line is not one.
bool ParseTlsEstablished(std::string_view text, std::string_view* dir, std::string_view* peer,
                         TlsInfo* tls) {
  size_t p = text.find(" TLS connection established ");
  if (p == std::string_view::npos || p > 12) return false;
  std::string_view rest = text.substr(p + 28);
  size_t sp = rest.find(' ');
  if (sp == std::string_view::npos) return false;
  *dir = rest.substr(0, sp);
  rest.remove_prefix(sp + 1);
  size_t colon = rest.find(": ");
  if (colon == std::string_view::npos) return false;
  *peer = rest.substr(0, colon);
  rest.remove_prefix(colon + 2);
  size_t w = rest.find(" with cipher ");
  if (w == std::string_view::npos) return false;
  tls->version = NormaliseTlsVersion(rest.substr(0, w));
  std::string_view cipher = rest.substr(w + 13);
  tls->cipher = std::string(cipher.substr(0, cipher.find(' ')));
  return !tls->version.empty() && !tls->cipher.empty();
}

// Postfix queue ids: short (hex, 10+ chars) or long (base 52, 12+ chars).
bool SplitQueueId(std::string_view text, std::string_view* qid, std::string_view* rest) {
  size_t c = text.find(": ");
  if (c == std::string_view::npos || c < 5 || c > 20) return false;
  for (char ch : text.substr(0, c)) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) return false;
  }
  *qid = text.substr(0, c);
  *rest = text.substr(c + 2);
  return true;
}

class PostfixParser : public FormatParser {
 public:
  PostfixParser(const ParseOptions& opts, Collector* collector)
      : opts_(opts), collector_(collector) {}

  LineResult Feed(std::string_view line) override {
    LineResult early;
    auto sl = SyslogEnvelope(line, opts_, &early);
    if (!sl) return early;
    if (!Contains(sl->program, "postfix")) return {Fate::kIgnored, ""};
    std::string_view service = sl->program.substr(sl->program.rfind('/') + 1);
    time_ = sl->time;
    std::string pid(sl->pid);
    if (service == "smtpd") return Smtpd(pid, sl->text);
    if (service == "qmgr") return Qmgr(sl->text);
    if (service == "smtp" || service == "lmtp") return Smtp(pid, service, sl->text);
    return {Fate::kIgnored, ""};
  }

 private:
  LineResult Smtpd(const std::string& pid, std::string_view text) {
    std::string_view dir, peer, qid, rest;
    TlsInfo tls;
    if (std::string_view(text).starts_with("connect from ")) {
      sessions_[pid] = Session{++next_session_, std::string(text.substr(13)), std::nullopt};
      return {Fate::kUsed, ""};
    }
    if (std::string_view(text).starts_with("disconnect from ")) {
      sessions_.erase(pid);
      return {Fate::kUsed, ""};
    }
    if (ParseTlsEstablished(text, &dir, &peer, &tls)) {
      Session& s = SessionOf(pid, peer);
      s.tls = tls;
      return {Fate::kUsed, ""};
    }
    if (std::string_view(text).starts_with("NOQUEUE: reject: ")) {
      std::string_view from;
      size_t semi = text.find("; from=<");
      if (semi == std::string_view::npos || !FieldValue(text.substr(semi + 2), "from=", &from)) {
        return {Fate::kMalformed, "reject without from=<...>"};
      }
      std::string_view reason = text.substr(0, semi);
      size_t colon = reason.find("]: ");
      if (colon != std::string_view::npos) reason.remove_prefix(colon + 3);
      collector_->AddError(from.substr(0, from.find(' ')), reason, time_);
      return {Fate::kUsed, ""};
    }
    if (SplitQueueId(text, &qid, &rest) && std::string_view(rest).starts_with("client=")) {
      std::string_view client = rest.substr(7);
      client = client.substr(0, client.find(','));
      Session& s = SessionOf(pid, client);
      queue_[std::string(qid)] =
          QueuedMessage{s.id, std::string(client), s.tls, Contains(rest, "sasl_username="), false};
      return {Fate::kUsed, ""};
    }
    return {Fate::kIgnored, ""};
  }

  // The open session of an smtpd process; one is opened when its "connect from" line is not
  // in the input (a log that starts mid-session).
  Session& SessionOf(const std::string& pid, std::string_view client) {
    auto it = sessions_.find(pid);
    if (it == sessions_.end()) {
      it =
          sessions_.emplace(pid, Session{++next_session_, std::string(client), std::nullopt}).first;
    }
    return it->second;
  }

  LineResult Qmgr(std::string_view text) {
    std::string_view qid, rest, from;
    if (!SplitQueueId(text, &qid, &rest)) return {Fate::kIgnored, ""};
    if (rest == "removed") {
      queue_.erase(std::string(qid));
      collector_->ForgetQueueId(std::string(qid));
      return {Fate::kUsed, ""};
    }
    if (!std::string_view(rest).starts_with("from=")) return {Fate::kIgnored, ""};
    if (!FieldValue(rest, "from=", &from) || from.empty() || from.front() != '<' ||
        from.back() != '>') {
      return {Fate::kMalformed, "from= without <address>"};
    }
    auto it = queue_.find(std::string(qid));
    if (it == queue_.end() || it->second.counted || it->second.submission) {
      return {Fate::kUsed, ""};  // local submission, or already counted on an earlier queue run
    }
    it->second.counted = true;
    collector_->AddInbound(InboundMessage{std::string(from), it->second.session, it->second.tls,
                                          it->second.client, time_});
    return {Fate::kUsed, ""};
  }

  LineResult Smtp(const std::string& pid, std::string_view service, std::string_view text) {
    std::string_view dir, peer, qid, rest;
    TlsInfo tls;
    if (ParseTlsEstablished(text, &dir, &peer, &tls)) {
      client_tls_[pid] = ClientTls{std::string(peer), tls};
      return {Fate::kUsed, ""};
    }
    if (!SplitQueueId(text, &qid, &rest) || !std::string_view(rest).starts_with("to=")) {
      return {Fate::kIgnored, ""};
    }
    std::string_view to, relay, status;
    if (!FieldValue(rest, "to=", &to) || !FieldValue(rest, "relay=", &relay) ||
        !FieldValue(rest, "status=", &status) || to.empty() || to.front() != '<') {
      return {Fate::kMalformed, "delivery without to=<>, relay= or status="};
    }
    // lmtp to a local socket or a local mailbox server is not mail to a peer.
    if (service == "lmtp" || relay == "local") return {Fate::kUsed, ""};
    DeliveryAttempt a;
    a.recipient = std::string(to);
    a.queue_id = std::string(qid);
    a.time = time_;
    std::string_view word, detail;
    SplitStatus(status, &word, &detail);
    if (word == "sent") {
      a.status = DeliveryStatus::kSent;
    } else if (word == "deferred") {
      a.status = DeliveryStatus::kDeferred;
    } else if (word == "bounced" || word == "expired") {
      a.status = DeliveryStatus::kBounced;
    } else {
      return {Fate::kMalformed, "unknown status="};
    }
    a.error = std::string(detail);
    if (relay != "none") {
      HostAddr ha = SplitHostAddr(relay);
      a.mx_name = ha.name;
      a.mx_address = ha.addr;
      auto it = client_tls_.find(pid);
      if (it != client_tls_.end() && it->second.peer == relay) a.tls = it->second.tls;
    }
    collector_->AddDelivery(a);
    return {Fate::kUsed, ""};
  }

  ParseOptions opts_;
  Collector* collector_;
  int64_t time_ = 0;
  uint64_t next_session_ = 0;
  std::map<std::string, Session> sessions_;      // smtpd pid -> open session
  std::map<std::string, QueuedMessage> queue_;   // queue id -> how it arrived
  std::map<std::string, ClientTls> client_tls_;  // smtp pid -> last TLS connection
};

}  // namespace

std::unique_ptr<FormatParser> MakePostfixParser(const ParseOptions& opts, Collector* collector) {
  return std::make_unique<PostfixParser>(opts, collector);
}

}  // namespace mxcensus::maillog
