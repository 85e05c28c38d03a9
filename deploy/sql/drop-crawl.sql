-- Drops one crawl and everything recorded for it (retention; docs/operations.md "Backups and
-- retention"). Usage:
--   psql "$DSN" -v crawl_id=42 -f deploy/sql/drop-crawl.sql
-- The crawl's probe partition is dropped in O(1); its domains, MX hosts, targets and shards go
-- with the crawl row (ON DELETE CASCADE; for targets, migration 0008's trigger), its rows kept
-- aside by migration 0005 (probe_unmatched) are deleted; certificates that no remaining crawl
-- presented are removed last (that step reads every probe row's chain: run it off-peak). A
-- crawl that is still running is refused: cancel it first (`mxcensus crawl cancel ID`).
\set ON_ERROR_STOP on
BEGIN;
SELECT set_config('mxcensus.drop_crawl_id', :'crawl_id', true) AS dropping_crawl;
DO $$
DECLARE
  id bigint := current_setting('mxcensus.drop_crawl_id')::bigint;
  st text;
BEGIN
  SELECT state INTO st FROM crawl WHERE crawl_id = id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'crawl % does not exist', id;
  END IF;
  IF st NOT IN ('finished', 'cancelled', 'failed') THEN
    RAISE EXCEPTION 'crawl % is %: cancel it first (mxcensus crawl cancel %)', id, st, id;
  END IF;
  EXECUTE format('DROP TABLE IF EXISTS %I', 'probe_c' || id);
  DELETE FROM probe_unmatched WHERE crawl_id = id;
  DELETE FROM crawl WHERE crawl_id = id;
  DELETE FROM certificate c
   WHERE NOT EXISTS (SELECT 1 FROM probe p WHERE c.sha256 = ANY (p.chain_sha256))
     AND NOT EXISTS (SELECT 1 FROM probe_unmatched u WHERE c.sha256 = ANY (u.chain_sha256));
END $$;
COMMIT;
