#include "worker/dns/policy.h"

#include <algorithm>

namespace mxcensus::dns {
namespace {

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimWsp(std::string_view s) {
  while (!s.empty() && IsWsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsWsp(s.back())) s.remove_suffix(1);
  return s;
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return Lower(x) == Lower(y); });
}

// `txt` starts with `version` (case-sensitive) followed by end, ';' or whitespace.
bool StartsWithVersion(std::string_view txt, std::string_view version) {
  if (txt.substr(0, version.size()) != version) return false;
  return txt.size() == version.size() || txt[version.size()] == ';' || IsWsp(txt[version.size()]);
}

// Splits "k=v; k2=v2" into its first tag's name and value (RFC 7489 tag-list).
bool FirstTag(std::string_view record, std::string_view* name, std::string_view* value) {
  std::string_view first = record.substr(0, record.find(';'));
  size_t eq = first.find('=');
  if (eq == std::string_view::npos) return false;
  *name = TrimWsp(first.substr(0, eq));
  *value = TrimWsp(first.substr(eq + 1));
  return true;
}

}  // namespace

std::string_view PolicyKindName(PolicyKind kind) {
  switch (kind) {
    case PolicyKind::kSpf:
      return "SPF";
    case PolicyKind::kDmarc:
      return "DMARC";
    case PolicyKind::kMtaSts:
      return "MTA-STS";
    case PolicyKind::kTlsRpt:
      return "TLS-RPT";
  }
  return "?";
}

bool IsPolicyRecord(PolicyKind kind, std::string_view txt) {
  switch (kind) {
    case PolicyKind::kSpf:
      return txt.size() >= 6 && EqualsIgnoreCase(txt.substr(0, 6), "v=spf1") &&
             (txt.size() == 6 || txt[6] == ' ');
    case PolicyKind::kDmarc: {
      std::string_view name, value;
      return FirstTag(txt, &name, &value) && EqualsIgnoreCase(name, "v") && value == "DMARC1";
    }
    case PolicyKind::kMtaSts:
      return StartsWithVersion(txt, "v=STSv1");
    case PolicyKind::kTlsRpt:
      return StartsWithVersion(txt, "v=TLSRPTv1");
  }
  return false;
}

PolicySelection SelectPolicy(PolicyKind kind, const std::vector<std::string>& txts) {
  PolicySelection sel;
  for (const auto& txt : txts) {
    if (!IsPolicyRecord(kind, txt)) continue;
    ++sel.matches;
    if (!sel.record || txt < *sel.record) sel.record = txt;
  }
  return sel;
}

std::optional<std::string> DmarcPolicy(std::string_view record) {
  while (!record.empty()) {
    size_t semi = record.find(';');
    std::string_view tag = record.substr(0, semi);
    record = semi == std::string_view::npos ? std::string_view() : record.substr(semi + 1);
    size_t eq = tag.find('=');
    if (eq == std::string_view::npos) continue;
    if (!EqualsIgnoreCase(TrimWsp(tag.substr(0, eq)), "p")) continue;
    std::string value(TrimWsp(tag.substr(eq + 1)));
    for (char& c : value) c = Lower(c);
    return value;
  }
  return std::nullopt;
}

}  // namespace mxcensus::dns
