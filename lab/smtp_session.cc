// The SMTP dialogue of every host profile (docs/lab.md "Host profiles").
#include <strings.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "lab/smtp_conn.h"

namespace mxcensus::lab::internal {
namespace {

bool Verb(std::string_view line, std::string_view verb) {
  if (line.size() < verb.size()) return false;
  if (strncasecmp(line.data(), verb.data(), verb.size()) != 0) return false;
  return line.size() == verb.size() || line[verb.size()] == ' ';
}

// Replies are built into the loop's scratch string (cleared, capacity kept): no allocation
// per session.
std::string_view Greeting(const Host& h, std::string* out) {
  out->clear();
  if (h.profile == Profile::kMultiline) {
    absl::StrAppend(out, "220-", h.name, " ESMTP mxcensus-lab\r\n",
                    "220-This is a simulated mail server of the mxcensus lab.\r\n",
                    "220 No mail is accepted here.\r\n");
  } else {
    absl::StrAppend(out, "220 ", h.name, " ESMTP mxcensus-lab\r\n");
  }
  return *out;
}

std::string_view Line(std::string* out, std::string_view head, const std::string& name,
                      std::string_view tail) {
  out->clear();
  absl::StrAppend(out, absl::string_view(head.data(), head.size()), name,
                  absl::string_view(tail.data(), tail.size()));
  return *out;
}

// The EHLO reply: `tls` inside TLS (never offers STARTTLS again).
std::string_view EhloReply(const Host& h, bool tls, std::string* out) {
  std::string& r = *out;
  r.clear();
  absl::StrAppend(&r, "250-", h.name, "\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n");
  if (h.profile == Profile::kMultiline) {
    for (int i = 1; i <= 34; ++i) {
      absl::StrAppend(&r, "250-X-LAB-EXTENSION-", i, " a long multi-line EHLO reply, line ", i,
                      " of 40\r\n");
    }
  }
  if (!tls) {
    switch (h.profile) {
      case Profile::kNoStartTls:
        break;
      case Profile::kStartTlsMasked:
        r += "250-XXXXXXXA\r\n";  // what a STARTTLS-stripping middlebox leaves behind
        break;
      default:
        r += "250-STARTTLS\r\n";
    }
  } else {
    r += "250-AUTH PLAIN LOGIN\r\n";
  }
  r += "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n";
  return r;
}

constexpr std::string_view kHttpResponse =
    "HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Type: text/html\r\n"
    "Content-Length: 50\r\nConnection: close\r\n\r\n"
    "<html><body><h1>400 Bad Request</h1></body></html>";

// A fatal handshake_failure alert, as a server without a shared cipher sends it.
constexpr char kAlert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28};

constexpr std::string_view kGarbage =
    "garbage: this is not a TLS ServerHello, just bytes where the handshake should be\r\n";

}  // namespace

std::string_view EndlessEhloReply() {
  // 16,384 lines of 64 bytes: exactly 1 MiB of "250-" continuation lines and no last line.
  static const std::string* reply = [] {
    auto* s = new std::string();
    s->reserve(1 << 20);
    for (int i = 0; i < 16384; ++i) {
      std::string line = absl::StrCat("250-X-ENDLESS-", i, " ");
      line.append(62 - line.size(), 'x');
      line += "\r\n";
      *s += line;
    }
    return s;
  }();
  return *reply;
}

void SmtpServer::OnAccepted(Conn* c) {
  const Host& h = *c->host;
  switch (h.profile) {
    case Profile::kTarpit:
      c->state = ConnState::kSilent;  // no timer: holds until the client leaves
      return;
    case Profile::kSlowBanner:
      c->state = ConnState::kGreetDelay;
      ArmTimer(c, kGreetingDelayMs);
      return;
    case Profile::kHttp:
      Send(c, kHttpResponse);
      BeginDrain(c);
      return;
    case Profile::kBanner421:
      Send(c, Line(&scratch_, "421 4.3.2 ", h.name, " Service not available, closing channel\r\n"));
      BeginDrain(c);
      return;
    case Profile::kBanner554:
      Send(c, Line(&scratch_, "554 5.7.1 ", h.name, " No SMTP service here\r\n"));
      ArmTimer(c, kIdleMs);
      return;
    case Profile::kCloseAfterBanner:
      Send(c, Greeting(h, &scratch_));
      BeginDrain(c);
      return;
    default:
      Send(c, Greeting(h, &scratch_));
      ArmTimer(c, kIdleMs);
      return;
  }
}

void SmtpServer::OnTimer(Conn* c) {
  switch (c->state) {
    case ConnState::kGreetDelay:
      c->state = ConnState::kCommands;
      Send(c, Greeting(*c->host, &scratch_));
      ArmTimer(c, kIdleMs);
      return;
    case ConnState::kCommands:
      Send(c, Line(&scratch_, "421 4.4.2 ", c->host->name, " Error: timeout exceeded\r\n"));
      BeginDrain(c);
      return;
    case ConnState::kSilent:
    case ConnState::kTlsHandshake:
    case ConnState::kTlsCommands:
    case ConnState::kAwaitClientHello:
    case ConnState::kBulk:
    case ConnState::kHold:
    case ConnState::kDraining:
      Close(c);
      return;
    case ConnState::kClosing:
      return;
  }
}

void SmtpServer::OnLine(Conn* c, std::string_view line) {
  const Host& h = *c->host;
  const bool tls = c->state == ConnState::kTlsCommands;
  ArmTimer(c, kIdleMs);
  if (++c->commands > kMaxCommands) {
    Send(c, "421 4.7.0 Error: too many commands\r\n");
    BeginDrain(c);
    return;
  }
  if (Verb(line, "QUIT")) {
    Send(c, "221 2.0.0 Bye\r\n");
    BeginDrain(c);
    return;
  }
  if (h.profile == Profile::kBanner554) {
    Send(c, "503 5.5.1 Error: no SMTP service here, only QUIT\r\n");
    return;
  }
  if (Verb(line, "EHLO")) {
    if (h.profile == Profile::kEhlo502HeloOk) {
      Send(c, "502 5.5.2 Error: command not recognized\r\n");
    } else if (h.profile == Profile::kEhloHeloRejected) {
      Send(c, "550 5.7.1 Client host rejected: EHLO not allowed\r\n");
    } else if (h.profile == Profile::kEhlo1MiB && !tls) {
      c->state = ConnState::kBulk;
      Flush(c);
    } else {
      c->greeted = true;
      Send(c, EhloReply(h, tls, &scratch_));
    }
    return;
  }
  if (Verb(line, "HELO")) {
    if (h.profile == Profile::kEhloHeloRejected) {
      Send(c, "550 5.7.1 Client host rejected: HELO not allowed\r\n");
    } else {
      c->greeted = true;
      Send(c, Line(&scratch_, "250 ", h.name, "\r\n"));
    }
    return;
  }
  if (Verb(line, "STARTTLS")) {
    if (tls) {
      Send(c, "554 5.5.1 Error: TLS already active\r\n");
      return;
    }
    switch (h.profile) {
      case Profile::kNoStartTls:
      case Profile::kEhlo502HeloOk:
      case Profile::kEhloHeloRejected:
        Send(c, "502 5.5.1 Error: command not implemented\r\n");
        return;
      case Profile::kStartTlsMasked:
        Send(c, "500 5.5.2 Error: command not recognized\r\n");
        return;
      case Profile::kStartTls454:
        Send(c, "454 4.7.0 TLS not available due to local problem\r\n");
        return;
      default:
        break;
    }
    if (!c->greeted) {
      Send(c, "503 5.5.1 Error: send HELO/EHLO first\r\n");
      return;
    }
    if (h.profile == Profile::kTlsGarbage || h.profile == Profile::kTlsAlert ||
        h.profile == Profile::kTlsStall) {
      Send(c, "220 2.0.0 Ready to start TLS\r\n");
      c->state = ConnState::kAwaitClientHello;
      return;
    }
    if (h.profile == Profile::kStartTlsInjection) {
      // The STARTTLS command-injection class: extra bytes in the same write as the 220,
      // before the handshake. A correct client discards them.
      Send(c, "220 2.0.0 Ready to start TLS\r\n250 injected\r\n");
    } else {
      Send(c, "220 2.0.0 Ready to start TLS\r\n");
    }
    if (!c->out.empty()) {
      // The kernel did not take the 220 at once (never seen on loopback): keep it simple and
      // give up rather than mixing plain text and TLS in the output queue.
      Close(c);
      return;
    }
    StartTls(c);
    return;
  }
  if (Verb(line, "NOOP") || Verb(line, "RSET")) {
    Send(c, "250 2.0.0 Ok\r\n");
    return;
  }
  if (Verb(line, "MAIL") || Verb(line, "RCPT") || Verb(line, "DATA") || Verb(line, "VRFY") ||
      Verb(line, "EXPN") || Verb(line, "AUTH") || Verb(line, "BDAT")) {
    Send(c, "502 5.7.0 Error: the mxcensus lab accepts no mail\r\n");
    return;
  }
  Send(c, "500 5.5.2 Error: command not recognized\r\n");
}

void SmtpServer::OnClientHello(Conn* c) {
  if (c->host->profile == Profile::kTlsStall) {
    c->state = ConnState::kSilent;  // the client waits for a ServerHello until it gives up
    return;
  }
  if (c->host->profile == Profile::kTlsAlert) {
    Send(c, std::string_view(kAlert, sizeof kAlert));
  } else {
    Send(c, kGarbage);
  }
  c->state = ConnState::kCommands;  // plain-text output path for the drain
  BeginDrain(c);
}

void SmtpServer::OnBulkDone(Conn* c) {
  c->state = ConnState::kHold;
  ArmTimer(c, kIdleMs);
}

}  // namespace mxcensus::lab::internal
