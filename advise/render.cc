#include "advise/render.h"

#include <array>
#include <ctime>

#include "absl/strings/str_replace.h"
#include "report/render_text.h"
#include "report/table.h"

namespace mxcensus::advise {
namespace {

std::string Fill(std::string_view text, const DomainAdvice& a, const Diagnosis& d) {
  std::string mx = d.mx.empty() ? "mx." + a.domain : d.mx;
  return absl::StrReplaceAll(std::string(text), {{"{mx}", mx}, {"{domain}", a.domain}});
}

std::string Indent(std::string_view text, std::string_view pad) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    out.append(pad).append(text.substr(start, nl - start)).append("\n");
    start = nl + 1;
  }
  return out;
}

// Greedy word wrap at `width` columns, each line prefixed with `pad`.
std::string Wrap(std::string_view text, size_t width, std::string_view pad) {
  std::string out, line;
  size_t start = 0;
  while (start <= text.size()) {
    size_t sp = text.find(' ', start);
    if (sp == std::string_view::npos) sp = text.size();
    std::string_view word = text.substr(start, sp - start);
    if (!line.empty() && pad.size() + line.size() + 1 + word.size() > width) {
      out.append(pad).append(line).append("\n");
      line.clear();
    }
    // A word longer than a line (a peer's greeting without spaces) is cut: mail drafts must
    // keep RFC 5322's 998-character line limit whatever the peer sent.
    const size_t room = width > pad.size() + 1 ? width - pad.size() : 1;
    while (line.empty() && word.size() > room) {
      out.append(pad).append(word.substr(0, room)).append("\n");
      word.remove_prefix(room);
    }
    if (!line.empty()) line += ' ';
    line.append(word);
    start = sp + 1;
  }
  if (!line.empty()) out.append(pad).append(line).append("\n");
  return out;
}

std::string SoftwareLabel(const Diagnosis& d, const FixInfo& f) {
  if (f.software == Software::kAny) return "any mail server";
  std::string s(SoftwareTitle(f.software));
  if (d.software == Software::kOther) s += " (software not recognised from the greeting)";
  return s;
}

void TextFinding(const DomainAdvice& a, const Diagnosis& d, bool markdown, std::string* out) {
  const FindingInfo& info = Info(d.finding);
  // The observation quotes the peer's greeting and replies: no control characters from them.
  const std::string observed = report::SanitizeForTerminal(d.observed, 0);
  std::string where = d.mx.empty() ? a.domain : d.mx + (d.ip.empty() ? "" : " (" + d.ip + ")");
  if (markdown) {
    *out += "### " + std::string(SeverityName(info.severity)) + ": " + std::string(info.title) +
            " — " + where + "\n\n";
    *out +=
        "- **Observed:** " + observed + ".\n- **Why it matters:** " + std::string(info.why) + "\n";
  } else {
    *out += "  [" + std::string(SeverityName(info.severity)) + "] " + where + ": " +
            std::string(info.title) + "\n";
    *out += Wrap("Observed: " + observed + ".", 100, "      ");
    *out += Wrap("Why it matters: " + std::string(info.why), 100, "      ");
  }
  for (const FixInfo* f : FixesFor(d.finding, d.software)) {
    std::string label = "Fix (" + SoftwareLabel(d, *f) + "): ";
    if (markdown) {
      *out += "- **" + label + "**" + Fill(f->steps, a, d) + "\n";
      if (!f->config.empty()) *out += "\n  ```\n" + Indent(Fill(f->config, a, d), "  ") + "  ```\n";
    } else {
      *out += Wrap(label + Fill(f->steps, a, d), 100, "      ");
      if (!f->config.empty()) *out += Indent(Fill(f->config, a, d), "          ");
    }
  }
  *out += markdown ? "\n" : "";
}

std::string DomainText(const DomainAdvice& a, bool markdown) {
  std::string out;
  std::string n = std::to_string(a.findings.size());
  out += markdown ? "## " + a.domain + " (" + n + " findings)\n\n"
                  : a.domain + ": " + n + (a.findings.size() == 1 ? " finding\n" : " findings\n");
  for (const Diagnosis& d : a.findings) TextFinding(a, d, markdown, &out);
  return out;
}

std::string RfcDate(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

}  // namespace

nlohmann::ordered_json AdviceToJson(const std::vector<DomainAdvice>& advice, int64_t crawl_id) {
  nlohmann::ordered_json domains = nlohmann::ordered_json::array();
  size_t failing = 0;
  for (const DomainAdvice& a : advice) {
    nlohmann::ordered_json findings = nlohmann::ordered_json::array();
    for (const Diagnosis& d : a.findings) {
      const FindingInfo& info = Info(d.finding);
      nlohmann::ordered_json fixes = nlohmann::ordered_json::array();
      for (const FixInfo* f : FixesFor(d.finding, d.software)) {
        fixes.push_back({{"software", SoftwareName(f->software)},
                         {"steps", Fill(f->steps, a, d)},
                         {"config", Fill(f->config, a, d)}});
      }
      findings.push_back({{"code", info.code},
                          {"severity", SeverityName(info.severity)},
                          {"title", info.title},
                          {"mx", d.mx},
                          {"ip", d.ip},
                          {"software", SoftwareName(d.software)},
                          {"observed", d.observed},
                          {"why", info.why},
                          {"evidence", d.evidence},
                          {"fixes", fixes}});
    }
    if (!a.findings.empty()) ++failing;
    domains.push_back({{"domain", a.domain}, {"findings", findings}});
  }
  return {{"crawl_id", crawl_id},
          {"domains_checked", advice.size()},
          {"domains_with_findings", failing},
          {"domains", domains}};
}

std::string RenderAdvice(const std::vector<DomainAdvice>& advice, int64_t crawl_id,
                         OutputFormat format) {
  if (format == OutputFormat::kJson) {
    return AdviceToJson(advice, crawl_id)
               .dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
           "\n";
  }
  bool md = format == OutputFormat::kMarkdown;
  // The overview is a table of the report module; the findings follow as prose.
  report::Table summary;
  summary.id = "advise";
  summary.title = "Domains with findings";
  summary.Add("domain", "domain")
      .Add("errors", "errors", report::ColumnKind::kInteger)
      .Add("warnings", "warnings", report::ColumnKind::kInteger)
      .Add("advice", "advice", report::ColumnKind::kInteger)
      .Add("software", "MTA software");
  std::string body;
  for (const DomainAdvice& a : advice) {
    if (a.findings.empty()) continue;
    std::array<int64_t, 3> n{};
    std::string software;
    for (const Diagnosis& d : a.findings) {
      ++n[static_cast<size_t>(Info(d.finding).severity)];
      std::string s(SoftwareName(d.software));
      if (d.software != Software::kAny && software.find(s) == std::string::npos) {
        software += (software.empty() ? "" : ", ") + s;
      }
    }
    summary.rows.push_back({a.domain, n[0], n[1], n[2], software});
    body += DomainText(a, md) + "\n";
  }
  std::string head = (md ? "# " : "") + std::string("mxcensus advise: crawl ") +
                     std::to_string(crawl_id) + ", " + std::to_string(advice.size()) +
                     " domains checked, " + std::to_string(summary.rows.size()) +
                     " with findings\n\n";
  if (summary.rows.empty()) return head;
  std::string table = md ? report::RenderMarkdownTable(summary) : report::RenderTextTable(summary);
  return head + table + "\n" + body;
}

std::string NotificationDraft(const DomainAdvice& a, const DraftOptions& opts) {
  std::string domain_part = opts.from.substr(opts.from.rfind('@') + 1);
  std::string msg;
  msg += "From: " + opts.from + "\n";
  msg += "To: postmaster@" + a.domain + "\n";
  msg += "Subject: Mail to " + a.domain + " is not fully protected in transit (" +
         std::to_string(a.findings.size()) + " findings)\n";
  msg += "Date: " + RfcDate(opts.date) + "\n";
  msg += "Message-ID: <mxcensus-advise." + std::to_string(opts.date) + "." + a.domain + "@" +
         domain_part + ">\n";
  msg +=
      "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
      "Content-Transfer-Encoding: 8bit\nAuto-Submitted: auto-generated\n\n";
  msg += Wrap("Hello, we exchange mail with " + a.domain +
                  " and checked how its mail servers protect mail in transit (STARTTLS, "
                  "certificates, policy records). Below is what we observed, why it matters, and "
                  "how to fix it.",
              76, "");
  msg += "\n" + DomainText(a, false) + "\n";
  msg += Wrap(
      "These observations come from a connection to each of your MX hosts on port 25 "
      "(no mail was sent). Reply to this message if something looks wrong.",
      76, "");
  // RFC 5322: CRLF line ends.
  return absl::StrReplaceAll(msg, {{"\n", "\r\n"}});
}

}  // namespace mxcensus::advise
