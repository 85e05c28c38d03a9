-- What the coordinator needs to run crawls from PostgreSQL alone: fencing tokens for leases,
-- and the per-crawl settings of shard sizes and retry limits.

CREATE SEQUENCE lease_token_seq;

ALTER TABLE crawl
  ADD COLUMN resolve_shard_size integer NOT NULL DEFAULT 500,
  ADD COLUMN probe_shard_size integer NOT NULL DEFAULT 250,
  ADD COLUMN max_attempts integer NOT NULL DEFAULT 5,
  ADD COLUMN probe_ipv6 boolean NOT NULL DEFAULT false;

-- Crawls still being worked on, found quickly by the scheduler.
CREATE INDEX crawl_active_idx ON crawl (crawl_id) WHERE state IN ('pending', 'resolving', 'probing');

-- Whether the TLS handshake completed (a tls_failed probe may still carry version or alert).
ALTER TABLE probe ADD COLUMN tls_handshake_complete boolean;
