// CrawlStore::RecordRefusedBatch: a batch that cannot be stored as it is, kept aside so that it
// can be acked (docs/crawl.md, "Exactly once, whatever dies").
#include <algorithm>
#include <string>
#include <string_view>

#include "common/result_json.h"
#include "nlohmann/json.hpp"
#include "storage/crawl_store.h"
#include "storage/crawl_store_internal.h"

namespace mxcensus::storage {
namespace {

// The refusal's texts come from the worker (its id, a result's address and MX name): as valid
// UTF-8 without NUL, which a text column refuses, and bounded, so that keeping them cannot fail
// on what the worker sent.
std::string StorableText(std::string_view s, size_t max_bytes) {
  const std::string quoted = nlohmann::json(std::string(s.substr(0, max_bytes)))
                                 .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out = nlohmann::json::parse(quoted).get<std::string>();
  std::erase(out, '\0');
  return out;
}

// The first of `items` as a JSON array (docs/result-schema.md), each appended by `append`, at
// most `max_items` and about `max_bytes`; `kept` is how many. jsonb refuses the escape \u0000 (a
// NUL in a string the worker sent), so it becomes U+FFFD, as invalid UTF-8 does.
template <typename Item, typename Append>
std::string PayloadJson(const std::vector<Item>& items, size_t max_items, size_t max_bytes,
                        size_t& kept, Append append) {
  std::string json = "[";
  kept = 0;
  for (const Item& r : items) {
    if (kept == max_items || json.size() >= max_bytes) break;
    if (kept > 0) json += ',';
    append(r, json);
    ++kept;
  }
  json += ']';
  // Backslashes occur only in escapes, inside strings: each escape is skipped whole, so "\\u0000"
  // (an escaped backslash, then text) is left alone.
  for (size_t i = json.find('\\'); i != std::string::npos; i = json.find('\\', i)) {
    if (json.compare(i + 1, 5, "u0000") == 0) json.replace(i + 2, 4, "fffd");
    i += 2;
  }
  return json;
}

}  // namespace

absl::StatusOr<bool> CrawlStore::RecordRefusedBatch(const RefusedBatch& batch) {
  size_t items = 0;
  size_t kept = 0;
  std::string payload = "[]";
  if (batch.probes != nullptr) {
    items = batch.probes->size();
    payload =
        PayloadJson(*batch.probes, kRefusedPayloadMaxItems, kRefusedPayloadMaxBytes, kept,
                    [](const ProbeResult& r, std::string& json) {
                      // The public form has no target id, which is what a refusal of a
                      // probe result is mostly about.
                      const size_t at = json.size();
                      AppendProbeResultJson(r, &json);
                      json.insert(at + 1, "\"target_id\":" + std::to_string(r.target_id) + ",");
                    });
  } else if (batch.domains != nullptr) {
    items = batch.domains->size();
    payload = PayloadJson(*batch.domains, kRefusedPayloadMaxItems, kRefusedPayloadMaxBytes, kept,
                          [](const DomainResult& d, std::string& json) {
                            json += DomainResultToJson(d).dump(
                                -1, ' ', false, nlohmann::json::error_handler_t::replace);
                          });
  }
  const std::string worker = StorableText(batch.worker, 1024);
  const std::string reason = StorableText(batch.reason, 16384);
  auto added =
      Run<bool>("record a refused batch", [&](pqxx::connection& c) -> absl::StatusOr<bool> {
        pqxx::work tx(c);
        // ON CONFLICT DO NOTHING: refused_batch_once, the same batch delivered again.
        const auto r = tx.exec_params(
            "INSERT INTO refused_batch (crawl_id, kind, shard_id, lease_token, worker, batch_id, "
            "reason, items, payload_items, payload) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb) ON CONFLICT DO NOTHING",
            batch.lease.crawl_id, ShardKindName(batch.lease.kind), batch.lease.shard_id,
            batch.lease.token, worker, static_cast<int64_t>(batch.batch_id), reason,
            static_cast<int64_t>(items), static_cast<int64_t>(kept), payload);
        tx.commit();
        return r.affected_rows() == 1;
      });
  if (!added.ok()) return added.status();
  // A batch that completed its shard: the shard must still leave 'leased' (its worker renews
  // the lease for as long as it runs, so waiting for expiry would wait forever). An empty batch
  // of the same lease does what the refused one would have: if the lease is current, the
  // completion check finds the refused items missing and hands the shard back. After the
  // record, in its own transaction: a failure here is answered like the record's (not acked,
  // the batch comes again, is recorded once, and the shard closed then).
  if (batch.shard_complete) {
    auto closed = batch.lease.kind == ShardKind::kProbe
                      ? IngestProbes(batch.lease, {}, true, batch.worker)
                      : IngestDomains(batch.lease, {}, true, batch.worker);
    if (!closed.ok()) return closed.status();
  }
  return *added;
}

}  // namespace mxcensus::storage
