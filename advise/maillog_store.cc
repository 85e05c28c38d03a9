#include "advise/maillog_store.h"

#include "storage/db.h"

namespace mxcensus::advise {

absl::StatusOr<int64_t> StoreObservations(pqxx::connection& conn, const maillog::Observations& obs,
                                          int64_t crawl_id) {
  return storage::WithSqlErrors("store maillog", [&]() -> absl::StatusOr<int64_t> {
    nlohmann::json j = maillog::ObservationsToJson(obs);
    pqxx::work tx(conn);
    auto id =
        tx.exec_params1(
              "INSERT INTO maillog_import (crawl_id, files, lines) "
              "VALUES (NULLIF($1, 0), $2::jsonb, $3::jsonb) RETURNING import_id",
              crawl_id, j["files"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
              j["lines"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))[0]
            .as<int64_t>();
    // One statement for all domains: the JSON document is the wire format.
    tx.exec_params(
        "INSERT INTO maillog_domain SELECT $1, d->>'domain', "
        " (d->>'messages_in')::bigint, (d->>'messages_in_tls')::bigint,"
        " (d->>'sessions_in')::bigint, (d->>'sessions_in_tls')::bigint, d->'tls_in',"
        " (d->>'messages_out')::bigint, (d->>'deliveries_out')::bigint,"
        " (d->>'deliveries_out_tls')::bigint, (d->>'deferred_out')::bigint,"
        " (d->>'bounced_out')::bigint, d->'tls_out',"
        " ARRAY(SELECT jsonb_array_elements_text(d->'mx_names')),"
        " ARRAY(SELECT jsonb_array_elements_text(d->'mx_addresses')),"
        " ARRAY(SELECT jsonb_array_elements_text(d->'clients')),"
        " d->>'last_error', (d->>'last_error_at')::timestamptz,"
        " (d->>'first_seen')::timestamptz, (d->>'last_seen')::timestamptz "
        "FROM jsonb_array_elements($2::jsonb) d",
        id, j["domains"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    tx.commit();
    return id;
  });
}

absl::StatusOr<std::map<std::string, maillog::DomainStats>> LoadLatestObservations(
    pqxx::connection& conn) {
  using Result = std::map<std::string, maillog::DomainStats>;
  return storage::WithSqlErrors("load maillog", [&]() -> absl::StatusOr<Result> {
    pqxx::work tx(conn);
    auto rows = tx.exec(
        "SELECT domain, json_build_object("
        " 'messages_in', messages_in, 'messages_in_tls', messages_in_tls,"
        " 'sessions_in', sessions_in, 'sessions_in_tls', sessions_in_tls, 'tls_in', tls_in,"
        " 'messages_out', messages_out, 'deliveries_out', deliveries_out,"
        " 'deliveries_out_tls', deliveries_out_tls, 'deferred_out', deferred_out,"
        " 'bounced_out', bounced_out, 'tls_out', tls_out, 'mx_names', mx_names,"
        " 'mx_addresses', mx_addresses, 'clients', clients, 'last_error', last_error,"
        " 'last_error_at', to_char(last_error_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " 'first_seen', to_char(first_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " 'last_seen', to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))"
        "FROM maillog_domain WHERE import_id = (SELECT max(import_id) FROM maillog_import)");
    if (rows.empty()) {
      return absl::NotFoundError("the database holds no maillog import (run maillog --db)");
    }
    Result out;
    for (const auto& r : rows) {
      std::string error;
      maillog::DomainStats d;
      if (!maillog::DomainStatsFromJson(nlohmann::json::parse(r[1].c_str()), &d, &error)) {
        return absl::InternalError("maillog_domain " + r[0].as<std::string>() + ": " + error);
      }
      out.emplace(r[0].as<std::string>(), std::move(d));
    }
    return out;
  });
}

}  // namespace mxcensus::advise
