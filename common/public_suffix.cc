#include "common/public_suffix.h"

#include <libpsl.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <sstream>

#include "common/file_util.h"
#include "common/fn_deleter.h"

namespace mxcensus {

namespace {

// Lower case, without the trailing dot of an absolute name.
std::string Canonical(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string out(name);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

struct PublicSuffixList::Ctx {
  std::unique_ptr<psl_ctx_t, FnDeleter<psl_free>> psl;
};

PublicSuffixList::PublicSuffixList(std::unique_ptr<Ctx> ctx, std::vector<std::string> extra)
    : ctx_(std::move(ctx)), extra_(std::move(extra)) {}

PublicSuffixList::~PublicSuffixList() = default;

absl::StatusOr<std::shared_ptr<const PublicSuffixList>> PublicSuffixList::System() {
  return WithExtraRules("", "");
}

absl::StatusOr<std::shared_ptr<const PublicSuffixList>> PublicSuffixList::WithExtraRules(
    std::string_view text, std::string_view origin) {
  auto ctx = std::make_unique<Ctx>();
  // psl_latest: the newer of the distribution file (/usr/share/publicsuffix) and the built-in
  // list, so a Debian update of `publicsuffix` is picked up without rebuilding.
  ctx->psl.reset(psl_latest(nullptr));
  if (ctx->psl == nullptr) return absl::InternalError("libpsl: no public suffix list available");
  std::vector<std::string> extra;
  int line_no = 0;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line.compare(first, 2, "//") == 0) continue;
    line = line.substr(first, line.find_last_not_of(" \t\r") + 1 - first);
    std::string rule = Canonical(line);
    if (!rule.empty() && rule.front() == '.') rule.erase(0, 1);
    const bool bad_char =
        rule.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") != std::string::npos;
    if (rule.empty() || bad_char || rule.find("..") != std::string::npos) {
      return absl::InvalidArgumentError(std::string(origin) + ":" + std::to_string(line_no) +
                                        ": not a plain public suffix rule: '" + line +
                                        "' (wildcard and exception rules are not supported here)");
    }
    extra.push_back(std::move(rule));
  }
  return std::shared_ptr<const PublicSuffixList>(
      new PublicSuffixList(std::move(ctx), std::move(extra)));
}

std::string PublicSuffixList::RegistrableDomain(std::string_view host) const {
  const std::string name = Canonical(host);
  if (name.empty()) return name;
  // The longest matching rule wins (PSL semantics); an extra rule is only ever compared with
  // the suffix libpsl found.
  const char* found = psl_registrable_domain(ctx_->psl.get(), name.c_str());
  std::string best = found != nullptr ? std::string(found) : name;
  size_t best_suffix_len = 0;
  if (found != nullptr) {
    const size_t dot = best.find('.');
    best_suffix_len = dot == std::string::npos ? 0 : best.size() - dot - 1;
  }
  for (const std::string& rule : extra_) {
    if (rule.size() <= best_suffix_len || name.size() <= rule.size() + 1) continue;
    if (name.compare(name.size() - rule.size(), rule.size(), rule) != 0 ||
        name[name.size() - rule.size() - 1] != '.') {
      continue;
    }
    const size_t label_end = name.size() - rule.size() - 1;
    const size_t label_start = name.rfind('.', label_end - 1);
    best = name.substr(label_start == std::string::npos ? 0 : label_start + 1);
    best_suffix_len = rule.size();
  }
  return best;
}

namespace {

std::mutex g_mu;
std::shared_ptr<const PublicSuffixList> g_list;

}  // namespace

std::shared_ptr<const PublicSuffixList> ProcessPublicSuffixList() {
  std::lock_guard lock(g_mu);
  if (g_list == nullptr) {
    auto list = PublicSuffixList::System();
    // psl_latest falls back to the list compiled into libpsl, so this cannot fail in practice.
    if (list.ok()) g_list = *list;
  }
  return g_list;
}

absl::Status UseExtraPublicSuffixRules(std::string_view flag, const std::string& path) {
  auto text = ReadWholeFile(flag, path);
  if (!text.ok()) return text.status();
  auto list = PublicSuffixList::WithExtraRules(*text, path);
  if (!list.ok()) return list.status();
  std::lock_guard lock(g_mu);
  g_list = *list;
  return absl::OkStatus();
}

}  // namespace mxcensus
