// The tables of findings and fixes. Configuration lines are for current Debian/RHEL packages:
// Postfix 3.x (main.cf), Exim 4.9x (the Debian split config, or exim.conf main section),
// Sendmail 8.15+ (sendmail.mc, then `make -C /etc/mail` and a restart), Exchange 2016+
// (Exchange Management Shell) and Windows Schannel.
#include "advise/knowledge.h"

#include <array>

namespace mxcensus::advise {
namespace {

using F = Finding;
using S = Software;

constexpr auto kFindings = std::to_array<FindingInfo>({
    {F::kDnsFailure, "dns_failure", Severity::kError,
     "the domain does not resolve to a mail server",
     "Mail to the domain cannot be delivered at all: senders get a DNS error, retry, and "
     "finally bounce."},
    {F::kMxNoAddress, "mx_no_address", Severity::kWarning, "an MX host name has no address",
     "Senders waste a connection attempt on it, and if it is the only MX, mail cannot be "
     "delivered. A dangling MX name can also be taken over by whoever registers it."},
    {F::kMxUnreachable, "mx_unreachable", Severity::kError, "the MX does not accept connections",
     "Senders cannot reach this mail server; mail queues up or goes to a backup MX, which may "
     "have weaker protection."},
    {F::kSmtpSessionFailed, "smtp_session_failed", Severity::kError,
     "the MX does not complete an SMTP session",
     "Senders cannot deliver to this address at all (rejected greeting, rejected EHLO, a service "
     "that is not SMTP, or a connection closed early)."},
    {F::kNoStartTls, "no_starttls", Severity::kError, "STARTTLS is not offered",
     "Mail to this server travels in clear text: anyone on the path can read and change it, and "
     "senders that require TLS (MTA-STS, DANE, policy) cannot deliver at all."},
    {F::kStartTlsMasked, "starttls_masked", Severity::kError, "STARTTLS is masked by a middlebox",
     "A firewall or 'SMTP inspection' device rewrites the EHLO reply so that senders do not see "
     "STARTTLS; mail goes in clear text although the server itself supports TLS."},
    {F::kStartTlsRefused, "starttls_refused", Severity::kError,
     "STARTTLS is advertised but refused",
     "Senders try TLS, get an error, and then either send in clear text or keep the mail "
     "queued; the usual cause is a certificate or key the server cannot load."},
    {F::kTlsHandshakeFailed, "tls_handshake_failed", Severity::kError,
     "the TLS handshake fails after STARTTLS",
     "Senders fall back to clear text or cannot deliver: the server agreed to TLS and then broke "
     "the handshake (no shared protocol or cipher, a bad key, or a broken TLS setup)."},
    {F::kStartTlsInjection, "starttls_injection", Severity::kWarning,
     "plain-text data follows the reply to STARTTLS",
     "Bytes sent before TLS starts can be injected by an attacker and mistaken for protected "
     "replies (the CVE-2011-0411 class of bugs); a current MTA never sends them."},
    {F::kOldTlsVersion, "old_tls_version", Severity::kError,
     "only an obsolete TLS version is offered",
     "TLS 1.0 and 1.1 are deprecated (RFC 8996): current senders refuse them and fall back to "
     "clear text, and their ciphers are weak."},
    {F::kWeakDh, "weak_dh", Severity::kError, "weak Diffie-Hellman parameters",
     "A DH group under 2048 bits can be broken by a well-funded attacker (Logjam, 2015; 512-bit "
     "export groups by anyone), exposing the session keys of recorded mail."},
    {F::kCertExpired, "cert_expired", Severity::kError, "the certificate has expired",
     "Senders that verify certificates (MTA-STS, DANE-TA, policy) refuse to deliver; others "
     "cannot tell the server from an impostor."},
    {F::kCertNotYetValid, "cert_not_yet_valid", Severity::kError,
     "the certificate is not yet valid",
     "Verifying senders refuse it; the server clock or the certificate dates are wrong."},
    {F::kCertSelfSigned, "cert_self_signed", Severity::kWarning, "the certificate is self-signed",
     "Senders cannot verify who they talk to, so an attacker in the path can intercept the TLS "
     "session; MTA-STS cannot be used with it."},
    {F::kCertIncompleteChain, "cert_incomplete_chain", Severity::kWarning,
     "the certificate chain does not verify (missing intermediate or untrusted issuer)",
     "Verifying senders refuse the certificate; the server usually forgets to send the "
     "intermediate certificate along with its own."},
    {F::kCertNameMismatch, "cert_name_mismatch", Severity::kWarning,
     "the certificate is not for the MX host name",
     "Senders that verify names (MTA-STS, DANE-TA) refuse to deliver, and others cannot tell the "
     "server from an impostor."},
    {F::kNoMtaSts, "no_mta_sts", Severity::kAdvice, "no MTA-STS policy",
     "Without MTA-STS (RFC 8461) a sender cannot know that the domain expects TLS, so an "
     "attacker who strips STARTTLS or redirects MX lookups goes unnoticed."},
    {F::kNoTlsRpt, "no_tls_rpt", Severity::kAdvice, "no TLS-RPT reporting address",
     "With TLS-RPT (RFC 8460) senders report their TLS failures to the domain daily; without "
     "it, problems like the ones above stay invisible to the domain's operators."},
});

constexpr bool FindingsInOrder() {
  for (size_t i = 0; i < kFindings.size(); ++i) {
    if (static_cast<size_t>(kFindings[i].finding) != i) return false;
  }
  return kFindings.size() == static_cast<size_t>(Finding::kNoTlsRpt) + 1;
}
static_assert(FindingsInOrder(), "kFindings must list every Finding in enum order");

constexpr std::string_view kPostfixCert =
    "# /etc/postfix/main.cf, then: postfix reload\n"
    "smtpd_tls_chain_files = /etc/letsencrypt/live/{mx}/privkey.pem,\n"
    "    /etc/letsencrypt/live/{mx}/fullchain.pem\n"
    "smtpd_tls_security_level = may\n";
constexpr std::string_view kEximCert =
    "# Debian: /etc/exim4/conf.d/main/00_local_tls (or exim.conf, main section)\n"
    "MAIN_TLS_ENABLE = yes\n"
    "tls_advertise_hosts = *\n"
    "tls_certificate = /etc/letsencrypt/live/{mx}/fullchain.pem\n"
    "tls_privatekey = /etc/letsencrypt/live/{mx}/privkey.pem\n"
    "# then: update-exim4.conf && systemctl restart exim4\n";
constexpr std::string_view kSendmailCert =
    "dnl /etc/mail/sendmail.mc, then: make -C /etc/mail && systemctl restart sendmail\n"
    "define(`confCACERT_PATH', `/etc/ssl/certs')dnl\n"
    "define(`confCACERT', `/etc/ssl/certs/ca-certificates.crt')dnl\n"
    "define(`confSERVER_CERT', `/etc/mail/tls/{mx}-fullchain.pem')dnl\n"
    "define(`confSERVER_KEY', `/etc/mail/tls/{mx}-key.pem')dnl\n";
constexpr std::string_view kExchangeCert =
    "# Exchange Management Shell\n"
    "Import-ExchangeCertificate -FileData ([System.IO.File]::ReadAllBytes('C:\\certs\\{mx}.pfx')) "
    "-Password (Read-Host -AsSecureString)\n"
    "Enable-ExchangeCertificate -Thumbprint <thumbprint> -Services SMTP\n"
    "Set-ReceiveConnector \"<server>\\Default Frontend <server>\" -Fqdn {mx} "
    "-AuthMechanism 'Tls, Integrated, BasicAuth, BasicAuthRequireTLS, ExchangeServer'\n";
constexpr std::string_view kCertSteps =
    "Install a certificate for {mx} from a public CA (e.g. Let's Encrypt: certbot certonly "
    "--standalone -d {mx}) with its intermediate certificates, and point the server at it.";

constexpr auto kFixes = std::to_array<FixInfo>({
    // DNS and reachability: independent of the MTA.
    {F::kDnsFailure, S::kAny,
     "Publish an MX record that names a host with an address (or a null MX, RFC 7505, if the "
     "domain sends and receives no mail).",
     "{domain}. 3600 IN MX 10 mx1.{domain}.\nmx1.{domain}. 3600 IN A <address>\n"
     "; or, for a domain without mail: {domain}. 3600 IN MX 0 .\n"},
    {F::kMxNoAddress, S::kAny, "Give the MX name an address, or remove it from the MX set.",
     "{mx}. 3600 IN A <address>\n; or delete: {domain}. IN MX <pref> {mx}.\n"},
    {F::kMxUnreachable, S::kAny,
     "Let TCP port 25 through every firewall to the server, make the server listen on the "
     "public address, or remove the address from the MX set.",
     "nft add rule inet filter input tcp dport 25 accept\n"},
    {F::kMxUnreachable, S::kPostfix, "Make smtpd listen on all addresses (master.cf, main.cf).",
     "# /etc/postfix/master.cf\nsmtp      inet  n       -       y       -       -       smtpd\n"
     "# /etc/postfix/main.cf\ninet_interfaces = all\n"},
    {F::kMxUnreachable, S::kExim, "Make Exim listen on the public addresses.",
     "# Debian: /etc/exim4/update-exim4.conf.conf\ndc_local_interfaces=''\n"
     "# exim.conf\ndaemon_smtp_ports = 25\nlocal_interfaces = <; 0.0.0.0 ; ::\n"},
    {F::kMxUnreachable, S::kSendmail,
     "Sendmail on Debian listens on 127.0.0.1 only by default; drop the Addr= restriction.",
     "DAEMON_OPTIONS(`Family=inet,  Name=MTA-v4, Port=smtp')dnl\n"},
    {F::kSmtpSessionFailed, S::kAny,
     "Check what answers on port 25 (a web server, a proxy, a load balancer?) and the access "
     "rules that reject the greeting or EHLO of every client.",
     "openssl s_client -starttls smtp -connect {mx}:25 -crlf\n"},
    {F::kSmtpSessionFailed, S::kPostfix,
     "Look for client restrictions that reject everyone (postscreen, smtpd_client_restrictions, "
     "smtpd_helo_restrictions).",
     "postconf smtpd_client_restrictions smtpd_helo_restrictions postscreen_access_list\n"},
    {F::kSmtpSessionFailed, S::kExim, "Look for ACLs that reject everyone at connect or HELO time.",
     "exim -bP acl_smtp_connect acl_smtp_helo host_reject_connection\n"},
    {F::kSmtpSessionFailed, S::kSendmail,
     "Look for access-map entries and rulesets that reject every client.",
     "grep -E 'REJECT|ERROR' /etc/mail/access\n"},
    // STARTTLS missing or refused: a certificate the server can load, and TLS enabled.
    {F::kNoStartTls, S::kPostfix, kCertSteps, kPostfixCert},
    {F::kNoStartTls, S::kExim, kCertSteps, kEximCert},
    {F::kNoStartTls, S::kSendmail,
     "Install a certificate for {mx} (sendmail must be built with STARTTLS: "
     "sendmail -bt -d0.1 lists it) and configure it:",
     kSendmailCert},
    {F::kNoStartTls, S::kExchange,
     "Bind a CA-issued certificate for {mx} to the SMTP service and enable TLS on the receive "
     "connector:",
     kExchangeCert},
    {F::kStartTlsMasked, S::kAny,
     "Turn off 'SMTP inspection' / 'ESMTP fixup' on the firewall in front of the server (Cisco "
     "ASA/PIX, some UTMs); it replaces STARTTLS with XXXXXXXA.",
     "! Cisco ASA\npolicy-map global_policy\n class inspection_default\n  no inspect esmtp\n"},
    {F::kStartTlsRefused, S::kPostfix,
     "Postfix answers 454 when it cannot load its key or certificate: check the log for "
     "'cannot load', the paths and permissions, then configure:",
     kPostfixCert},
    {F::kStartTlsRefused, S::kExim,
     "Exim answers 454 when it cannot read its key (the Debian-exim user needs read access):",
     "chgrp Debian-exim /etc/letsencrypt/live/{mx}/privkey.pem\n"
     "chmod 640 /etc/letsencrypt/live/{mx}/privkey.pem\n"},
    {F::kStartTlsRefused, S::kSendmail,
     "Sendmail refuses STARTTLS when the key file is group- or world-readable or a path is "
     "wrong (see 'STARTTLS=server: file ... unsafe' in the log):",
     "chmod 600 /etc/mail/tls/{mx}-key.pem\n"
     "dnl or, if the key must stay group-readable:\n"
     "define(`confDONT_BLAME_SENDMAIL', `GroupReadableKeyFile')dnl\n"},
    {F::kStartTlsRefused, S::kExchange,
     "Exchange refuses STARTTLS when no valid certificate is bound to SMTP for the connector's "
     "FQDN:",
     kExchangeCert},
    // Broken handshakes, protocol versions, DH.
    {F::kTlsHandshakeFailed, S::kPostfix,
     "Allow the protocols and ciphers senders use, and check that key and certificate match "
     "(the two hashes must be equal):",
     "# /etc/postfix/main.cf\nsmtpd_tls_protocols = >=TLSv1.2\nsmtpd_tls_ciphers = medium\n"
     "# openssl x509 -noout -pubkey -in fullchain.pem | sha256sum; "
     "openssl pkey -pubout -in privkey.pem | sha256sum\n"},
    {F::kTlsHandshakeFailed, S::kExim,
     "Relax an over-strict cipher list and check the key and certificate pair:",
     "tls_require_ciphers = ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:@SECLEVEL=2\n"
     "openssl_options = +no_sslv2 +no_sslv3 +no_tlsv1 +no_tlsv1_1\n"},
    {F::kTlsHandshakeFailed, S::kSendmail,
     "Relax an over-strict cipher list (LOCAL_CONFIG in sendmail.mc) and check the key and "
     "certificate pair:",
     "LOCAL_CONFIG\nO CipherList=HIGH:!aNULL:!MD5\n"},
    {F::kTlsHandshakeFailed, S::kExchange,
     "Enable TLS 1.2 in Schannel and check the certificate bound to SMTP:",
     "Get-ExchangeCertificate | Where-Object {$_.Services -match 'SMTP'} | Format-List\n"
     "# HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols"
     "\\TLS 1.2\\Server: Enabled=1, DisabledByDefault=0\n"},
    {F::kStartTlsInjection, S::kAny,
     "Upgrade the MTA, and remove or update any SMTP proxy in front of it: after '220 Ready to "
     "start TLS' nothing may be sent before the handshake.",
     ""},
    {F::kOldTlsVersion, S::kPostfix,
     "The server's TLS library is too old: upgrade OpenSSL and Postfix, then allow only "
     "current versions:",
     "# /etc/postfix/main.cf\nsmtpd_tls_protocols = >=TLSv1.2\n"
     "smtpd_tls_mandatory_protocols = >=TLSv1.2\n"},
    {F::kOldTlsVersion, S::kExim, "Upgrade Exim and its TLS library, then drop old versions:",
     "openssl_options = +no_sslv2 +no_sslv3 +no_tlsv1 +no_tlsv1_1\n"
     "# with GnuTLS instead: tls_require_ciphers = NORMAL:-VERS-TLS1.0:-VERS-TLS1.1\n"},
    {F::kOldTlsVersion, S::kSendmail,
     "Upgrade sendmail and OpenSSL, then drop old versions (LOCAL_CONFIG in sendmail.mc):",
     "LOCAL_CONFIG\nO ServerSSLOptions=+SSL_OP_NO_SSLv2 +SSL_OP_NO_SSLv3 +SSL_OP_NO_TLSv1 "
     "+SSL_OP_NO_TLSv1_1\n"},
    {F::kOldTlsVersion, S::kExchange,
     "Enable TLS 1.2 (Exchange 2013 CU and later) and disable 1.0/1.1 in Schannel:",
     "# HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols\n"
     "#   TLS 1.2\\Server: Enabled=1   TLS 1.0\\Server: Enabled=0   TLS 1.1\\Server: Enabled=0\n"},
    {F::kWeakDh, S::kPostfix,
     "Use a 2048-bit (or larger) DH group and prefer ECDHE (Postfix 3.7+ negotiates FFDHE "
     "groups itself; for older versions generate the file):",
     "# openssl dhparam -out /etc/postfix/dh2048.pem 2048\n"
     "smtpd_tls_dh1024_param_file = /etc/postfix/dh2048.pem\n"
     "smtpd_tls_eecdh_grade = auto\n"},
    {F::kWeakDh, S::kExim, "Use a standard 2048-bit group (or larger) and ECDHE:",
     "tls_dhparam = ffdhe2048\ntls_eccurve = auto\n"},
    {F::kWeakDh, S::kSendmail, "Use a 2048-bit DH group:",
     "dnl openssl dhparam -out /etc/mail/tls/dh2048.pem 2048\n"
     "define(`confDH_PARAMETERS', `/etc/mail/tls/dh2048.pem')dnl\n"},
    {F::kWeakDh, S::kExchange, "Raise Schannel's minimum DH size and prefer ECDHE cipher suites:",
     "# "
     "HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\KeyExchangeAlgorithms"
     "\\Diffie-Hellman: ServerMinKeyBitLength=0x800\n"},
    // Certificates.
    {F::kCertExpired, S::kPostfix,
     "Renew the certificate and reload Postfix after every renewal (certbot deploy hook):",
     "certbot renew --deploy-hook 'postfix reload'\n"},
    {F::kCertExpired, S::kExim,
     "Renew the certificate; Exim reads it for each connection:", "certbot renew\n"},
    {F::kCertExpired, S::kSendmail, "Renew the certificate and restart sendmail:",
     "certbot renew --deploy-hook 'cat /etc/letsencrypt/live/{mx}/fullchain.pem > "
     "/etc/mail/tls/{mx}-fullchain.pem && systemctl restart sendmail'\n"},
    {F::kCertExpired, S::kExchange,
     "Renew the certificate and bind the new one to SMTP:", kExchangeCert},
    {F::kCertNotYetValid, S::kAny,
     "Check the server's clock (NTP) and the certificate's notBefore date.",
     "timedatectl set-ntp true\n"},
    {F::kCertSelfSigned, S::kPostfix, kCertSteps, kPostfixCert},
    {F::kCertSelfSigned, S::kExim, kCertSteps, kEximCert},
    {F::kCertSelfSigned, S::kSendmail, kCertSteps, kSendmailCert},
    {F::kCertSelfSigned, S::kExchange, kCertSteps, kExchangeCert},
    {F::kCertIncompleteChain, S::kPostfix,
     "Serve the intermediate certificates with the leaf (the full chain file):", kPostfixCert},
    {F::kCertIncompleteChain, S::kExim,
     "Point tls_certificate at the full chain, not the leaf alone:", kEximCert},
    {F::kCertIncompleteChain, S::kSendmail,
     "Put the intermediates after the leaf in the confSERVER_CERT file (sendmail 8.15+ sends "
     "them):",
     kSendmailCert},
    {F::kCertIncompleteChain, S::kExchange,
     "Import the intermediate certificates into the computer's Intermediate store, then rebind:",
     "Import-Certificate -FilePath C:\\certs\\intermediate.cer -CertStoreLocation "
     "Cert:\\LocalMachine\\CA\n"},
    {F::kCertNameMismatch, S::kAny,
     "Get a certificate whose subjectAltName lists {mx} (certbot certonly -d {mx}), or point "
     "the MX record at the name the certificate is for; then configure it as for a new "
     "certificate.",
     "certbot certonly --standalone -d {mx}\n"},
    {F::kNoMtaSts, S::kAny,
     "Publish an MTA-STS policy (start in testing mode) over HTTPS and announce it in DNS:",
     "_mta-sts.{domain}. 3600 IN TXT \"v=STSv1; id=20260101000000\"\n"
     "# https://mta-sts.{domain}/.well-known/mta-sts.txt\n"
     "version: STSv1\nmode: testing\nmx: {mx}\nmax_age: 86400\n"},
    {F::kNoTlsRpt, S::kAny, "Publish a TLS-RPT record with an address that receives the reports:",
     "_smtp._tls.{domain}. 3600 IN TXT \"v=TLSRPTv1; rua=mailto:tls-reports@{domain}\"\n"},
});

}  // namespace

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kError:
      return "error";
    case Severity::kWarning:
      return "warning";
    case Severity::kAdvice:
      return "advice";
  }
  return "error";
}

std::string_view SoftwareName(Software s) {
  switch (s) {
    case Software::kPostfix:
      return "postfix";
    case Software::kExim:
      return "exim";
    case Software::kSendmail:
      return "sendmail";
    case Software::kExchange:
      return "exchange";
    case Software::kOther:
      return "other";
    case Software::kAny:
      return "any";
  }
  return "other";
}

std::string_view SoftwareTitle(Software s) {
  switch (s) {
    case Software::kPostfix:
      return "Postfix";
    case Software::kExim:
      return "Exim";
    case Software::kSendmail:
      return "Sendmail";
    case Software::kExchange:
      return "Microsoft Exchange";
    case Software::kOther:
      return "other";
    case Software::kAny:
      return "any server";
  }
  return "other";
}

const FindingInfo& Info(Finding f) { return kFindings[static_cast<size_t>(f)]; }
std::span<const FindingInfo> AllFindings() { return kFindings; }
std::span<const FixInfo> AllFixes() { return kFixes; }

std::vector<const FixInfo*> FixesFor(Finding f, Software software) {
  std::vector<const FixInfo*> specific, any;
  for (const FixInfo& fix : kFixes) {
    if (fix.finding != f) continue;
    if (fix.software == Software::kAny) {
      any.push_back(&fix);
    } else if (software == Software::kOther || fix.software == software) {
      specific.push_back(&fix);
    }
  }
  // The software-independent step first (e.g. DNS or a firewall), then the MTA's own.
  any.insert(any.end(), specific.begin(), specific.end());
  return any;
}

}  // namespace mxcensus::advise
