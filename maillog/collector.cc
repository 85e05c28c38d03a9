#include "maillog/collector.h"

#include "absl/strings/ascii.h"
#include "common/domain_input.h"

namespace mxcensus::maillog {

std::string AddressDomain(std::string_view address) {
  if (!address.empty() && address.front() == '<') address.remove_prefix(1);
  if (!address.empty() && address.back() == '>') address.remove_suffix(1);
  size_t at = address.rfind('@');
  if (at == std::string_view::npos) return "";
  auto d = NormaliseDomain(address.substr(at + 1));
  return d.ok() ? *d : "";
}

std::string NormaliseTlsVersion(std::string_view v) {
  std::string s(v);
  if (std::string_view(s).starts_with("TLS") && !std::string_view(s).starts_with("TLSv"))
    s.insert(3, "v");
  if (s == "TLSv1.0") s = "TLSv1";
  return s;
}

DomainStats* Collector::Domain(std::string_view address, int64_t time) {
  std::string domain = AddressDomain(address);
  if (domain.empty()) return nullptr;
  DomainStats& d = out_->domains[domain];
  if (d.first_seen == 0 || (time != 0 && time < d.first_seen)) d.first_seen = time;
  if (time > d.last_seen) d.last_seen = time;
  return &d;
}

bool Collector::AddInbound(const InboundMessage& m) {
  DomainStats* d = Domain(m.sender, m.time);
  if (d == nullptr) return false;
  ++d->messages_in;
  if (m.tls) ++d->messages_in_tls;
  if (sessions_seen_.emplace(AddressDomain(m.sender), m.session).second) {
    ++d->sessions_in;
    if (m.tls) {
      ++d->sessions_in_tls;
      ++d->tls_in[m.tls->Key()];
    }
  }
  if (!m.client.empty()) d->clients.insert(m.client);
  return true;
}

bool Collector::AddDelivery(const DeliveryAttempt& a) {
  DomainStats* d = Domain(a.recipient, a.time);
  if (d == nullptr) return false;
  if (messages_out_seen_.emplace(a.queue_id, AddressDomain(a.recipient)).second) {
    ++d->messages_out;
  }
  if (!a.mx_name.empty()) d->mx_names.insert(absl::AsciiStrToLower(a.mx_name));
  if (!a.mx_address.empty()) d->mx_addresses.insert(a.mx_address);
  switch (a.status) {
    case DeliveryStatus::kSent:
      ++d->deliveries_out;
      if (a.tls) {
        ++d->deliveries_out_tls;
        ++d->tls_out[a.tls->Key()];
      }
      break;
    case DeliveryStatus::kDeferred:
      ++d->deferred_out;
      break;
    case DeliveryStatus::kBounced:
      ++d->bounced_out;
      break;
  }
  if (a.status != DeliveryStatus::kSent && !a.error.empty() && a.time >= d->last_error_at) {
    d->last_error = a.error;
    d->last_error_at = a.time;
  }
  return true;
}

bool Collector::AddError(std::string_view address, std::string_view text, int64_t time) {
  DomainStats* d = Domain(address, time);
  if (d == nullptr) return false;
  if (time >= d->last_error_at) {
    d->last_error = std::string(text);
    d->last_error_at = time;
  }
  return true;
}

void Collector::ForgetQueueId(const std::string& queue_id) {
  auto it = messages_out_seen_.lower_bound({queue_id, ""});
  while (it != messages_out_seen_.end() && it->first == queue_id) it = messages_out_seen_.erase(it);
}

}  // namespace mxcensus::maillog
