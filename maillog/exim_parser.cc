// Exim main log: one line per event, keyed by message id. "<=" arrivals carry the session's TLS
// (X=) and the client (H=); "=>", "->" deliveries carry the remote host and TLS; "**" bounces
// and "==" deferrals carry the error after ": ".
#include <map>
#include <vector>

#include "maillog/envelope.h"
#include "maillog/format_parser.h"

namespace mxcensus::maillog {
namespace {

bool IsMessageId(std::string_view s) {
  // Classic 6-6-2 and Exim 4.97's 6-11-4 ids.
  size_t d1 = s.find('-'), d2 = s.rfind('-');
  if (d1 != 6 || d2 == d1 || s.size() < 16 || s.size() > 23) return false;
  for (char c : s) {
    if (c != '-' && !std::isalnum(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// "K=v K2=v2 ..." with values that may contain spaces ("H=name (helo) [addr]") or quotes
// (DN="C=US, CN=x"). A token that starts "K=" with K of 1..10 letters starts a field; other
// tokens continue the previous value.
std::map<std::string, std::string, std::less<>> EximFields(std::string_view s) {
  std::map<std::string, std::string, std::less<>> out;
  std::string* current = nullptr;
  bool in_quote = false;
  while (!s.empty()) {
    size_t sp = s.find(' ');
    std::string_view tok = s.substr(0, sp);
    s.remove_prefix(sp == std::string_view::npos ? s.size() : sp + 1);
    size_t eq = tok.find('=');
    bool starts_field = !in_quote && eq != std::string_view::npos && eq >= 1 && eq <= 10;
    for (size_t i = 0; starts_field && i < eq; ++i) {
      if (!std::isalpha(static_cast<unsigned char>(tok[i]))) starts_field = false;
    }
    if (starts_field) {
      current = &out[std::string(tok.substr(0, eq))];
      tok.remove_prefix(eq + 1);
    } else if (current != nullptr) {
      current->push_back(' ');
    }
    if (current == nullptr) continue;
    current->append(tok);
    for (char c : tok) {
      if (c == '"') in_quote = !in_quote;
    }
  }
  return out;
}

// X=TLS1.3:TLS_AES_256_GCM_SHA384:256 (OpenSSL) or X=TLS1.2:ECDHE_RSA_AES_256_GCM_SHA384:256.
std::optional<TlsInfo> EximTls(const std::map<std::string, std::string, std::less<>>& f) {
  auto it = f.find("X");
  if (it == f.end()) return std::nullopt;
  std::string_view x = it->second;
  size_t c1 = x.find(':');
  if (c1 == std::string_view::npos) return std::nullopt;
  std::string_view cipher = x.substr(c1 + 1);
  cipher = cipher.substr(0, cipher.find(':'));
  return TlsInfo{NormaliseTlsVersion(x.substr(0, c1)), std::string(cipher)};
}

class EximParser : public FormatParser {
 public:
  EximParser(const ParseOptions& opts, Collector* collector) : opts_(opts), collector_(collector) {}

  LineResult Feed(std::string_view line) override {
    auto el = ParseEximEnvelope(line);
    if (!el) return {Fate::kUnparsed, "no Exim timestamp"};
    if (el->time < opts_.since) return {Fate::kBeforeSince, ""};
    time_ = el->time;
    std::string_view text = el->text;
    size_t sp = text.find(' ');
    if (sp == std::string_view::npos || !IsMessageId(text.substr(0, sp))) {
      return {Fate::kIgnored, ""};  // daemon and rejection lines without a message
    }
    std::string id(text.substr(0, sp));
    text.remove_prefix(sp + 1);
    if (text == "Completed") {
      collector_->ForgetQueueId(id);
      return {Fate::kUsed, ""};
    }
    size_t msp = text.find(' ');
    if (msp == std::string_view::npos) return {Fate::kIgnored, ""};
    std::string_view marker = text.substr(0, msp);
    std::string_view rest = text.substr(msp + 1);
    if (marker == "<=") return Arrival(rest);
    if (marker == "=>" || marker == "->") return Delivery(id, rest, DeliveryStatus::kSent);
    if (marker == "**") return Delivery(id, rest, DeliveryStatus::kBounced);
    if (marker == "==") return Delivery(id, rest, DeliveryStatus::kDeferred);
    return {Fate::kIgnored, ""};
  }

 private:
  LineResult Arrival(std::string_view rest) {
    size_t sp = rest.find(' ');
    std::string_view sender = rest.substr(0, sp);
    auto f = EximFields(sp == std::string_view::npos ? "" : rest.substr(sp + 1));
    auto p = f.find("P");
    if (p == f.end()) return {Fate::kMalformed, "arrival without P="};
    // Only SMTP from a peer: not local (P=local), not authenticated submission (A=, ...a).
    std::string_view proto = p->second;
    if (!Contains(proto, "smtp") || std::string_view(proto).ends_with("a") || f.count("A")) {
      return {Fate::kUsed, ""};
    }
    auto h = f.find("H");
    if (h == f.end()) return {Fate::kMalformed, "SMTP arrival without H="};
    if (sender == "<>") return {Fate::kUsed, ""};  // a bounce: no sender domain
    HostAddr ha = SplitHostAddr(h->second);
    std::string client = ha.name + "[" + ha.addr + "]";
    // Exim's main log has no session boundary: each arrival counts as its own session.
    collector_->AddInbound(
        InboundMessage{std::string(sender), ++next_session_, EximTls(f), client, time_});
    return {Fate::kUsed, ""};
  }

  LineResult Delivery(const std::string& id, std::string_view rest, DeliveryStatus status) {
    std::string error;
    if (status != DeliveryStatus::kSent) {
      size_t colon = rest.find(": ");
      if (colon != std::string_view::npos) {
        error = std::string(rest.substr(colon + 2));
        rest = rest.substr(0, colon);
      }
    }
    size_t sp = rest.find(' ');
    std::string_view rcpt = rest.substr(0, sp);
    if (!rcpt.empty() && rcpt.back() == ':') rcpt.remove_suffix(1);
    auto f = EximFields(sp == std::string_view::npos ? "" : rest.substr(sp + 1));
    auto h = f.find("H");
    // A delivery without a remote host went to a local transport (mailbox, pipe, file).
    if (status == DeliveryStatus::kSent && h == f.end()) return {Fate::kUsed, ""};
    auto t = f.find("T");
    if (h == f.end() && t != f.end() && !Contains(t->second, "smtp")) {
      return {Fate::kUsed, ""};  // a local transport failed
    }
    DeliveryAttempt a;
    a.recipient = std::string(rcpt.substr(0, rcpt.find(' ')));
    a.queue_id = id;
    a.status = status;
    a.error = error;
    a.time = time_;
    if (h != f.end()) {
      HostAddr ha = SplitHostAddr(h->second);
      a.mx_name = ha.name;
      a.mx_address = ha.addr;
    }
    a.tls = EximTls(f);
    if (!collector_->AddDelivery(a)) return {Fate::kMalformed, "recipient without a domain"};
    return {Fate::kUsed, ""};
  }

  ParseOptions opts_;
  Collector* collector_;
  int64_t time_ = 0;
  uint64_t next_session_ = 0;
};

}  // namespace

std::unique_ptr<FormatParser> MakeEximParser(const ParseOptions& opts, Collector* collector) {
  return std::make_unique<EximParser>(opts, collector);
}

}  // namespace mxcensus::maillog
