-- The first schema of mxcensus: crawls, their domains and MX hosts, work shards, probe results
-- (partitioned by crawl) and deduplicated certificates, plus the read-only researcher role.

CREATE TYPE probe_outcome AS ENUM (
  'starttls_ok', 'no_starttls', 'starttls_stripped', 'starttls_refused', 'tls_failed',
  'banner_rejected', 'ehlo_rejected', 'protocol_error', 'closed', 'timeout',
  'connect_refused', 'connect_failed', 'blocked');

CREATE TYPE probe_stage AS ENUM (
  'connect', 'banner', 'ehlo', 'helo', 'starttls', 'tls', 'ehlo_tls', 'quit');

CREATE TYPE dns_status AS ENUM (
  'ok', 'nxdomain', 'servfail', 'timeout', 'no_mx', 'null_mx', 'no_address', 'refused',
  'invalid');

CREATE TYPE crawl_state AS ENUM (
  'pending', 'resolving', 'probing', 'finished', 'cancelled', 'failed');

CREATE TABLE crawl (
  crawl_id      bigserial PRIMARY KEY,
  name          text NOT NULL,
  state         crawl_state NOT NULL DEFAULT 'pending',
  port          integer NOT NULL DEFAULT 25 CHECK (port BETWEEN 1 AND 65535),
  params        jsonb NOT NULL DEFAULT '{}'::jsonb,
  domains_total bigint NOT NULL DEFAULT 0,
  targets_total bigint NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  resolved_at   timestamptz,
  finished_at   timestamptz,
  error         text
);
CREATE INDEX crawl_name_idx ON crawl (name, created_at);

-- One row per input domain of a crawl, filled in by the resolve stage.
CREATE TABLE crawl_domain (
  crawl_id      bigint NOT NULL REFERENCES crawl ON DELETE CASCADE,
  domain        text NOT NULL,
  rank          bigint,
  shard_id      integer,
  status        dns_status,
  null_mx       boolean,
  implicit_mx   boolean,
  mta_sts       text,
  tls_rpt       text,
  spf           text,
  dmarc         text,
  dmarc_policy  text,
  error         text,
  resolved_at   timestamptz,
  PRIMARY KEY (crawl_id, domain)
);
CREATE INDEX crawl_domain_shard_idx ON crawl_domain (crawl_id, shard_id);

-- MX names of a crawl, resolved once however many domains share them.
CREATE TABLE mx_host (
  crawl_id      bigint NOT NULL REFERENCES crawl ON DELETE CASCADE,
  mx_name       text NOT NULL,
  status        dns_status NOT NULL,
  ipv4          inet[] NOT NULL DEFAULT '{}',
  ipv6          inet[] NOT NULL DEFAULT '{}',
  cname         text,
  tlsa          jsonb NOT NULL DEFAULT '[]'::jsonb,
  tlsa_ad       boolean NOT NULL DEFAULT false,
  PRIMARY KEY (crawl_id, mx_name)
);

-- The MX set of each domain (implicit MX appears as the domain's own name, flagged on the domain).
CREATE TABLE domain_mx (
  crawl_id      bigint NOT NULL REFERENCES crawl ON DELETE CASCADE,
  domain        text NOT NULL,
  mx_name       text NOT NULL,
  preference    integer NOT NULL,
  PRIMARY KEY (crawl_id, domain, mx_name),
  FOREIGN KEY (crawl_id, domain) REFERENCES crawl_domain ON DELETE CASCADE
);
CREATE INDEX domain_mx_name_idx ON domain_mx (crawl_id, mx_name);

-- Unique probe targets of a crawl: (ip, port, mx name), derived from the resolved MX set.
CREATE TABLE target (
  crawl_id      bigint NOT NULL REFERENCES crawl ON DELETE CASCADE,
  target_id     bigint NOT NULL,
  ip            inet NOT NULL,
  port          integer NOT NULL,
  mx_name       text NOT NULL,
  shard_id      integer,
  PRIMARY KEY (crawl_id, target_id),
  UNIQUE (crawl_id, ip, port, mx_name)
);
CREATE INDEX target_shard_idx ON target (crawl_id, shard_id);

-- Work units, leased to workers. A lease expires; `lease_token` fences late results of a shard
-- that was handed to someone else meanwhile.
CREATE TABLE shard (
  crawl_id      bigint NOT NULL REFERENCES crawl ON DELETE CASCADE,
  kind          text NOT NULL CHECK (kind IN ('resolve', 'probe')),
  shard_id      integer NOT NULL,
  state         text NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'leased', 'done', 'failed')),
  items         integer NOT NULL DEFAULT 0,
  items_done    integer NOT NULL DEFAULT 0,
  lease_owner   text,
  lease_token   bigint NOT NULL DEFAULT 0,
  lease_until   timestamptz,
  attempts      integer NOT NULL DEFAULT 0,
  last_error    text,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (crawl_id, kind, shard_id)
);
CREATE INDEX shard_open_idx ON shard (crawl_id, kind, lease_until)
  WHERE state IN ('pending', 'leased');

-- Certificates seen in any crawl, deduplicated by the SHA-256 of their DER.
CREATE TABLE certificate (
  sha256        bytea PRIMARY KEY CHECK (octet_length(sha256) = 32),
  der           bytea NOT NULL,
  subject       text,
  issuer        text,
  sans          text[] NOT NULL DEFAULT '{}',
  not_before    timestamptz,
  not_after     timestamptz,
  key_type      text,
  key_bits      integer,
  sig_alg       text,
  self_signed   boolean,
  first_seen    timestamptz NOT NULL DEFAULT now()
);

-- One row per crawl and target: everything the probe saw. Partitioned by crawl, so an old crawl
-- can be detached or dropped in O(1); each crawl's partition is created when the crawl is.
CREATE TABLE probe (
  crawl_id      bigint NOT NULL,
  ip            inet NOT NULL,
  port          integer NOT NULL,
  mx_name       text NOT NULL,
  tag           text NOT NULL DEFAULT '',
  target_id     bigint,
  outcome       probe_outcome NOT NULL,
  stage         probe_stage NOT NULL,
  error         text,
  banner        text,
  ehlo          text[],
  ehlo_tls      text[],
  helo_fallback boolean NOT NULL DEFAULT false,
  pipelined_after_starttls boolean NOT NULL DEFAULT false,
  code_banner   smallint,
  code_ehlo     smallint,
  code_helo     smallint,
  code_starttls smallint,
  code_ehlo_tls smallint,
  code_quit     smallint,
  tls_version   text,
  tls_cipher    text,
  tls_group     text,
  dh_bits       integer,
  chain_sha256  bytea[],         -- leaf first; each one a row of certificate
  leaf_sha256   bytea,
  chain_valid   boolean,
  verify_error  text,
  name_match    boolean,
  tls_alert     text,
  ms_connect    real,
  ms_banner     real,
  ms_ehlo       real,
  ms_starttls   real,
  ms_tls        real,
  ms_ehlo_tls   real,
  ms_quit       real,
  ms_total      real,
  started_at    timestamptz NOT NULL,
  worker        text,
  stored_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (crawl_id, ip, port, mx_name)
) PARTITION BY LIST (crawl_id);

-- Creates the probe partition of a crawl; idempotent.
CREATE FUNCTION mxcensus_create_probe_partition(p_crawl_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF probe FOR VALUES IN (%s)',
                 'probe_c' || p_crawl_id, p_crawl_id);
END $$;

-- The read-only role of researchers and Grafana: SELECT on the public interface, nothing else.
-- Roles are cluster-wide, so create it only when missing.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mxcensus_reader') THEN
    CREATE ROLE mxcensus_reader NOLOGIN;
  END IF;
END $$;
GRANT USAGE ON SCHEMA public TO mxcensus_reader;
GRANT SELECT ON crawl, crawl_domain, mx_host, domain_mx, target, certificate, probe
  TO mxcensus_reader;
