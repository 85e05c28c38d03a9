#include "advise/diagnose.h"

#include <algorithm>

namespace mxcensus::advise {
namespace {

std::string Quote(std::string_view s) {
  std::string out = "\"";
  out.append(s.substr(0, 200));
  out += "\"";
  return out;
}

std::string Where(const MxFacts& mx, const HostFacts& h) {
  return mx.name + " [" + h.ip + "]:" + std::to_string(h.port);
}

class HostDiagnoser {
 public:
  HostDiagnoser(const MxFacts& mx, const HostFacts& h, std::vector<Diagnosis>* out)
      : mx_(mx), h_(h), out_(out), software_(SoftwareFromSqlName(h.mta_software)) {}

  void Run() {
    const std::string& o = h_.outcome;
    if (o == "connect_refused" || o == "connect_failed" || o == "timeout") {
      Add(Finding::kMxUnreachable,
          o == "timeout"
              ? "the connection to " + Where(mx_, h_) + " timed out at the " + h_.stage + " stage"
              : "connecting to " + Where(mx_, h_) + " failed (" + o + ")");
    } else if (o == "banner_rejected" || o == "ehlo_rejected" || o == "protocol_error" ||
               o == "closed") {
      Add(Finding::kSmtpSessionFailed,
          Where(mx_, h_) + " ended the SMTP session at the " + h_.stage + " stage (" + o + ")" +
              (h_.banner.empty() ? "" : ", greeting " + Quote(h_.banner)));
    } else if (o == "no_starttls") {
      Add(Finding::kNoStartTls, "the EHLO reply of " + Where(mx_, h_) +
                                    " does not list STARTTLS (greeting " + Quote(h_.banner) + ")");
    } else if (o == "starttls_stripped") {
      Add(Finding::kStartTlsMasked, "the EHLO reply of " + Where(mx_, h_) +
                                        " lists a mangled keyword where STARTTLS belongs");
    } else if (o == "starttls_refused") {
      Add(Finding::kStartTlsRefused, Where(mx_, h_) + " advertised STARTTLS and answered it with " +
                                         std::to_string(h_.code_starttls) +
                                         (h_.error.empty() ? "" : " " + Quote(h_.error)));
    } else if (o == "tls_failed") {
      std::string why = !h_.tls_alert.empty() ? "alert " + Quote(h_.tls_alert)
                        : !h_.error.empty()   ? Quote(h_.error)
                                              : "no detail";
      Add(Finding::kTlsHandshakeFailed,
          Where(mx_, h_) + " answered 220 to STARTTLS, then the handshake failed: " + why);
    } else if (o == "starttls_ok") {
      Tls();
    }
  }

 private:
  void Tls() {
    if (h_.pipelined_after_starttls) {
      Add(Finding::kStartTlsInjection,
          Where(mx_, h_) + " sent plain-text data after its 220 reply to STARTTLS");
    }
    const std::string& v = h_.tls_version;
    if (v == "TLSv1" || v == "TLSv1.1" || v == "SSLv3") {
      Add(Finding::kOldTlsVersion, Where(mx_, h_) + " negotiated " + v + " (" + h_.tls_cipher +
                                       ") with a client that offers TLS 1.0 to 1.3");
    }
    if (h_.dh_bits > 0 && h_.dh_bits < 2048) {
      Add(Finding::kWeakDh, Where(mx_, h_) + " chose finite-field DH with a " +
                                std::to_string(h_.dh_bits) + "-bit group (" + h_.tls_cipher + ")");
    }
    Certificate();
  }

  void Certificate() {
    std::string cert = "certificate " + Quote(h_.subject) + " issued by " + Quote(h_.issuer) +
                       ", valid " + h_.not_before + " to " + h_.not_after;
    const std::string& v = h_.cert_verdict;
    if (v == "expired") {
      Add(Finding::kCertExpired, Where(mx_, h_) + " presents an expired " + cert);
    } else if (v == "not_yet_valid") {
      Add(Finding::kCertNotYetValid, Where(mx_, h_) + " presents a " + cert);
    } else if (v == "self_signed") {
      Add(Finding::kCertSelfSigned, Where(mx_, h_) + " presents a self-signed " + cert);
    } else if (!v.empty() && v != "valid" && v != "valid_name_mismatch") {
      // untrusted_chain, weak_key_or_signature, other_invalid: OpenSSL's first error says which.
      Add(Finding::kCertIncompleteChain, Where(mx_, h_) + " presents a " + cert +
                                             " that does not verify: " + Quote(h_.verify_error));
    }
    if (h_.name_match.has_value() && !*h_.name_match) {
      std::string names;
      for (const auto& s : h_.sans) names += (names.empty() ? "" : ", ") + s;
      Add(Finding::kCertNameMismatch, Where(mx_, h_) + " presents a certificate for " +
                                          (names.empty() ? Quote(h_.subject) : names) +
                                          ", not for " + mx_.name);
    }
  }

  void Add(Finding f, std::string observed) {
    Diagnosis d{f, mx_.name, h_.ip, software_, std::move(observed), {}};
    d.evidence = {{"mx", mx_.name},        {"ip", h_.ip},       {"port", h_.port},
                  {"outcome", h_.outcome}, {"stage", h_.stage}, {"banner", h_.banner}};
    if (h_.code_starttls != 0) d.evidence["starttls_reply"] = h_.code_starttls;
    if (!h_.error.empty()) d.evidence["error"] = h_.error;
    if (!h_.tls_alert.empty()) d.evidence["tls_alert"] = h_.tls_alert;
    if (h_.handshake_complete) {
      d.evidence["tls_version"] = h_.tls_version;
      d.evidence["tls_cipher"] = h_.tls_cipher;
      if (h_.dh_bits > 0) d.evidence["dh_bits"] = h_.dh_bits;
      if (!h_.subject.empty()) {
        d.evidence["cert_subject"] = h_.subject;
        d.evidence["cert_issuer"] = h_.issuer;
        d.evidence["cert_sans"] = h_.sans;
        d.evidence["cert_not_before"] = h_.not_before;
        d.evidence["cert_not_after"] = h_.not_after;
      }
      if (!h_.verify_error.empty()) d.evidence["verify_error"] = h_.verify_error;
    }
    out_->push_back(std::move(d));
  }

  const MxFacts& mx_;
  const HostFacts& h_;
  std::vector<Diagnosis>* out_;
  Software software_;
};

void DomainFinding(const DomainFacts& d, Finding f, std::string observed, std::string mx,
                   std::vector<Diagnosis>* out) {
  Diagnosis g{f, std::move(mx), "", Software::kAny, std::move(observed), {}};
  g.evidence = {{"domain", d.domain}, {"status", d.status}};
  if (!g.mx.empty()) g.evidence["mx"] = g.mx;
  out->push_back(std::move(g));
}

}  // namespace

Software SoftwareFromSqlName(std::string_view name) {
  if (name == "postfix") return Software::kPostfix;
  if (name == "exim") return Software::kExim;
  if (name == "sendmail") return Software::kSendmail;
  if (name == "microsoft") return Software::kExchange;
  return Software::kOther;
}

DomainAdvice Diagnose(const DomainFacts& d) {
  DomainAdvice out{d.domain, {}};
  if (d.status == "null_mx" || d.null_mx) return out;
  if (d.status != "ok") {
    DomainFinding(d, Finding::kDnsFailure, "resolving the MX of " + d.domain + " gave " + d.status,
                  "", &out.findings);
    return out;
  }
  std::string first_mx;
  for (const MxFacts& mx : d.mx) {
    if (mx.status != "ok") {
      DomainFinding(d, Finding::kMxNoAddress,
                    "the MX name " + mx.name + " has no address (" + mx.status + ")", mx.name,
                    &out.findings);
      continue;
    }
    if (first_mx.empty()) first_mx = mx.name;
    for (const HostFacts& h : mx.hosts) HostDiagnoser(mx, h, &out.findings).Run();
  }
  if (d.mta_sts.empty()) {
    DomainFinding(d, Finding::kNoMtaSts, d.domain + " publishes no _mta-sts TXT record", first_mx,
                  &out.findings);
  }
  if (d.tls_rpt.empty()) {
    DomainFinding(d, Finding::kNoTlsRpt, d.domain + " publishes no _smtp._tls TXT record", first_mx,
                  &out.findings);
  }
  return out;
}

}  // namespace mxcensus::advise
