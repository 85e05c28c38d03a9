#pragma once

// Collector: the events the format parsers extract (a message received, a delivery attempt)
// turned into per-domain observations. The parsers own the joins (session, queue id, process
// id); the collector only counts.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "maillog/observations.h"

namespace mxcensus::maillog {

// The TLS parameters a log line reported for a session or a connection.
struct TlsInfo {
  std::string version;  // normalised to OpenSSL's spelling: "TLSv1.3", "TLSv1.2", "TLSv1"
  std::string cipher;
  std::string Key() const { return version + " " + cipher; }
};

struct InboundMessage {
  std::string sender;    // envelope sender address (its domain is the peer)
  uint64_t session = 0;  // a parser-assigned id, unique per SMTP session of the run
  std::optional<TlsInfo> tls;
  std::string client;  // "name[addr]"
  int64_t time = 0;
};

enum class DeliveryStatus { kSent, kDeferred, kBounced };

struct DeliveryAttempt {
  std::string recipient;
  std::string queue_id;
  DeliveryStatus status = DeliveryStatus::kSent;
  std::string mx_name;     // the relay host, "" when none was reached
  std::string mx_address;  // its address, ""
  std::optional<TlsInfo> tls;
  std::string error;  // the reply or reason of a deferral or bounce
  int64_t time = 0;
};

class Collector {
 public:
  explicit Collector(Observations* out) : out_(out) {}

  // Returns false when the address has no valid domain (nothing is counted then).
  bool AddInbound(const InboundMessage& m);
  bool AddDelivery(const DeliveryAttempt& d);
  // An error logged for a domain outside a delivery (e.g. an inbound RCPT rejected).
  bool AddError(std::string_view address, std::string_view text, int64_t time);
  // The queue id is gone (removed / Completed): its per-message state can be dropped.
  void ForgetQueueId(const std::string& queue_id);

 private:
  DomainStats* Domain(std::string_view address, int64_t time);

  Observations* out_;
  std::set<std::pair<std::string, uint64_t>> sessions_seen_;         // (domain, session)
  std::set<std::pair<std::string, std::string>> messages_out_seen_;  // (queue id, domain)
};

// The domain of an address ("<Bob@Example.ORG.>" -> "example.org"), "" when there is none or
// it is not a valid domain name.
std::string AddressDomain(std::string_view address);

// "TLS1.3" / "TLSv1.3" / "TLSv1" -> OpenSSL's spelling ("TLSv1.3", "TLSv1").
std::string NormaliseTlsVersion(std::string_view v);

}  // namespace mxcensus::maillog
