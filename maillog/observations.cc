#include "maillog/observations.h"

#include "common/result_json.h"
#include "maillog/format_parser.h"

namespace mxcensus::maillog {
namespace {

nlohmann::json TimeOrNull(int64_t t) {
  return t == 0 ? nlohmann::json() : nlohmann::json(FormatTimeS(t));
}

// Reads a time written by FormatTimeS back (0 for null).
bool ParseIso(const nlohmann::json& j, int64_t* out) {
  if (j.is_null()) {
    *out = 0;
    return true;
  }
  if (!j.is_string()) return false;
  auto ms = ParseTimeMs(j.get<std::string>());
  if (!ms.ok()) return false;
  *out = *ms / 1000;
  return true;
}

}  // namespace

bool FieldValue(std::string_view text, std::string_view key, std::string_view* value) {
  size_t p = 0;
  while (true) {
    p = text.find(key, p);
    if (p == std::string_view::npos) return false;
    if (p == 0 || text[p - 1] == ' ' || text[p - 1] == ',') break;
    p += key.size();
  }
  std::string_view v = text.substr(p + key.size());
  size_t end = v.find(", ");
  *value = v.substr(0, end);
  return true;
}

void SplitStatus(std::string_view v, std::string_view* word, std::string_view* detail) {
  size_t sp = v.find(' ');
  *word = v.substr(0, sp);
  *detail = std::string_view();
  if (sp == std::string_view::npos) return;
  std::string_view d = v.substr(sp + 1);
  if (!d.empty() && d.front() == '(') d.remove_prefix(1);
  if (!d.empty() && d.back() == ')') d.remove_suffix(1);
  *detail = d;
}

nlohmann::json ObservationsToJson(const Observations& obs) {
  nlohmann::json domains = nlohmann::json::array();
  for (const auto& [name, d] : obs.domains) {
    domains.push_back(
        {{"domain", name},
         {"messages_in", d.messages_in},
         {"messages_in_tls", d.messages_in_tls},
         {"sessions_in", d.sessions_in},
         {"sessions_in_tls", d.sessions_in_tls},
         {"tls_in", d.tls_in},
         {"messages_out", d.messages_out},
         {"deliveries_out", d.deliveries_out},
         {"deliveries_out_tls", d.deliveries_out_tls},
         {"deferred_out", d.deferred_out},
         {"bounced_out", d.bounced_out},
         {"tls_out", d.tls_out},
         {"mx_names", d.mx_names},
         {"mx_addresses", d.mx_addresses},
         {"clients", d.clients},
         {"last_error", d.last_error.empty() ? nlohmann::json() : nlohmann::json(d.last_error)},
         {"last_error_at", TimeOrNull(d.last_error_at)},
         {"first_seen", TimeOrNull(d.first_seen)},
         {"last_seen", TimeOrNull(d.last_seen)}});
  }
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : obs.files) {
    files.push_back({{"path", f.path}, {"format", f.format}, {"lines", f.lines}});
  }
  const LineStats& l = obs.lines;
  return {{"files", files},
          {"lines",
           {{"total", l.total},
            {"used", l.used},
            {"ignored", l.ignored},
            {"before_since", l.before_since},
            {"unparsed", l.unparsed},
            {"malformed", l.malformed},
            {"samples", l.samples}}},
          {"domains", domains}};
}

bool DomainStatsFromJson(const nlohmann::json& j, DomainStats* out, std::string* error) {
  try {
    DomainStats d;
    d.messages_in = j.at("messages_in").get<int64_t>();
    d.messages_in_tls = j.at("messages_in_tls").get<int64_t>();
    d.sessions_in = j.at("sessions_in").get<int64_t>();
    d.sessions_in_tls = j.at("sessions_in_tls").get<int64_t>();
    d.tls_in = j.at("tls_in").get<std::map<std::string, int64_t>>();
    d.messages_out = j.at("messages_out").get<int64_t>();
    d.deliveries_out = j.at("deliveries_out").get<int64_t>();
    d.deliveries_out_tls = j.at("deliveries_out_tls").get<int64_t>();
    d.deferred_out = j.at("deferred_out").get<int64_t>();
    d.bounced_out = j.at("bounced_out").get<int64_t>();
    d.tls_out = j.at("tls_out").get<std::map<std::string, int64_t>>();
    d.mx_names = j.at("mx_names").get<std::set<std::string>>();
    d.mx_addresses = j.at("mx_addresses").get<std::set<std::string>>();
    d.clients = j.at("clients").get<std::set<std::string>>();
    if (!j.at("last_error").is_null()) d.last_error = j.at("last_error").get<std::string>();
    if (!ParseIso(j.at("last_error_at"), &d.last_error_at) ||
        !ParseIso(j.at("first_seen"), &d.first_seen) ||
        !ParseIso(j.at("last_seen"), &d.last_seen)) {
      *error = "a time is not YYYY-MM-DDTHH:MM:SSZ";
      return false;
    }
    *out = std::move(d);
    return true;
  } catch (const nlohmann::json::exception& e) {
    *error = e.what();
    return false;
  }
}

std::string DomainList(const Observations& obs) {
  std::string out;
  for (const auto& [name, d] : obs.domains) {
    out += name;
    out += '\n';
  }
  return out;
}

}  // namespace mxcensus::maillog
