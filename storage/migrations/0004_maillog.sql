-- Observations from a mail server's own logs (`mxcensus maillog --db`): one row per import and
-- one per peer domain of an import. Documented in docs/maillog-advise.md and docs/sql.md.

CREATE TABLE maillog_import (
  import_id     bigserial PRIMARY KEY,
  crawl_id      bigint REFERENCES crawl ON DELETE SET NULL,  -- the crawl it goes with, if any
  files         jsonb NOT NULL DEFAULT '[]'::jsonb,          -- [{path, format, lines}]
  lines         jsonb NOT NULL DEFAULT '{}'::jsonb,          -- line accounting and samples
  imported_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE maillog_domain (
  import_id          bigint NOT NULL REFERENCES maillog_import ON DELETE CASCADE,
  domain             text NOT NULL,
  messages_in        bigint NOT NULL DEFAULT 0,
  messages_in_tls    bigint NOT NULL DEFAULT 0,
  sessions_in        bigint NOT NULL DEFAULT 0,
  sessions_in_tls    bigint NOT NULL DEFAULT 0,
  tls_in             jsonb NOT NULL DEFAULT '{}'::jsonb,  -- "TLSv1.3 CIPHER" -> sessions
  messages_out       bigint NOT NULL DEFAULT 0,
  deliveries_out     bigint NOT NULL DEFAULT 0,
  deliveries_out_tls bigint NOT NULL DEFAULT 0,
  deferred_out       bigint NOT NULL DEFAULT 0,
  bounced_out        bigint NOT NULL DEFAULT 0,
  tls_out            jsonb NOT NULL DEFAULT '{}'::jsonb,  -- "TLSv1.2 CIPHER" -> deliveries
  mx_names           text[] NOT NULL DEFAULT '{}',
  mx_addresses       text[] NOT NULL DEFAULT '{}',
  clients            text[] NOT NULL DEFAULT '{}',
  last_error         text,
  last_error_at      timestamptz,
  first_seen         timestamptz,
  last_seen          timestamptz,
  PRIMARY KEY (import_id, domain)
);
CREATE INDEX maillog_domain_domain_idx ON maillog_domain (domain);

GRANT SELECT ON maillog_import, maillog_domain TO mxcensus_reader;
