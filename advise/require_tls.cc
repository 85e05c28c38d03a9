#include "advise/require_tls.h"

#include <algorithm>
#include <cstdio>

#include "report/render_text.h"
#include "report/table.h"

namespace mxcensus::advise {
namespace {

std::string MxStartTls(const DomainFacts* d) {
  if (d == nullptr) return "unknown";
  int ok = 0, total = 0;
  for (const MxFacts& mx : d->mx) {
    for (const HostFacts& h : mx.hosts) {
      ++total;
      if (h.outcome == "starttls_ok") ++ok;
    }
  }
  if (total == 0) return "unknown";
  return ok == total ? "all" : ok == 0 ? "none" : "some";
}

std::string Percent(int64_t part, int64_t whole) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", whole == 0 ? 0.0 : 100.0 * part / whole);
  return buf;
}

}  // namespace

RequireTlsResult SimulateRequireTls(const std::map<std::string, maillog::DomainStats>& obs,
                                    const std::vector<DomainFacts>& crawl) {
  std::map<std::string, const DomainFacts*> facts;
  for (const DomainFacts& d : crawl) facts[d.domain] = &d;
  RequireTlsResult r;
  for (const auto& [name, s] : obs) {
    if (s.messages_in == 0) continue;
    ++r.domains_in;
    r.messages_in += s.messages_in;
    int64_t plain = s.messages_in - s.messages_in_tls;
    if (plain == 0) continue;
    ++r.domains_bouncing;
    if (s.messages_in_tls == 0) ++r.domains_all_plain;
    r.messages_bouncing += plain;
    auto it = facts.find(name);
    r.rows.push_back({name, s.messages_in, plain, s.sessions_in, s.sessions_in - s.sessions_in_tls,
                      MxStartTls(it == facts.end() ? nullptr : it->second)});
  }
  std::stable_sort(r.rows.begin(), r.rows.end(), [](const auto& a, const auto& b) {
    return a.messages_plain != b.messages_plain ? a.messages_plain > b.messages_plain
                                                : a.domain < b.domain;
  });
  return r;
}

nlohmann::ordered_json RequireTlsToJson(const RequireTlsResult& r) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const auto& row : r.rows) {
    rows.push_back({{"domain", row.domain},
                    {"messages_in", row.messages_in},
                    {"messages_would_bounce", row.messages_plain},
                    {"sessions_in", row.sessions_in},
                    {"sessions_without_tls", row.sessions_plain},
                    {"their_mx_starttls", row.mx_starttls}});
  }
  return {{"domains_sending", r.domains_in},
          {"domains_would_bounce", r.domains_bouncing},
          {"domains_entirely_without_tls", r.domains_all_plain},
          {"messages_in", r.messages_in},
          {"messages_would_bounce", r.messages_bouncing},
          {"domains", rows}};
}

std::string RequireTlsText(const RequireTlsResult& r, bool markdown) {
  report::Table t;
  t.id = "require_tls";
  t.title = "Correspondents whose mail would bounce if inbound STARTTLS were mandatory";
  t.note = std::to_string(r.domains_bouncing) + " of " + std::to_string(r.domains_in) +
           " sending domains would have mail bounced (" + std::to_string(r.domains_all_plain) +
           " of them entirely); " + std::to_string(r.messages_bouncing) + " of " +
           std::to_string(r.messages_in) + " inbound messages (" +
           Percent(r.messages_bouncing, r.messages_in) + ").";
  t.Add("domain", "domain")
      .Add("messages_in", "messages in", report::ColumnKind::kInteger)
      .Add("messages_would_bounce", "would bounce", report::ColumnKind::kInteger)
      .Add("sessions_in", "sessions", report::ColumnKind::kInteger)
      .Add("sessions_without_tls", "without TLS", report::ColumnKind::kInteger)
      .Add("their_mx_starttls", "their MX offers STARTTLS");
  for (const auto& row : r.rows) {
    t.rows.push_back({row.domain, row.messages_in, row.messages_plain, row.sessions_in,
                      row.sessions_plain, row.mx_starttls});
  }
  return markdown ? report::RenderMarkdownTable(t) : report::RenderTextTable(t);
}

}  // namespace mxcensus::advise
