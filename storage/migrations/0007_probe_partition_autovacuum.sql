-- A crawl's probe partition only grows while the crawl runs, and autovacuum analyzed it again
-- after every tenth of growth (at most once a minute): each time a 30,000-row sample with the
-- EHLO and chain arrays, 1.1-1.2 s of CPU at 100k rows (measured, docs/crawl.md), on the server
-- that is ingesting the crawl, and statistics out of date again within a minute. A new crawl's
-- partition now starts with autovacuum off; the crawl's end (finished or cancelled) turns it
-- back on and analyzes the partition once, in the transaction that ends the crawl
-- (storage/crawl_store.cc). Anti-wraparound vacuums run whatever the setting. Partitions of
-- crawls created before this migration keep autovacuum on.
CREATE OR REPLACE FUNCTION mxcensus_create_probe_partition(p_crawl_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF probe FOR VALUES IN (%s) '
                 'WITH (autovacuum_enabled = off)',
                 'probe_c' || p_crawl_id, p_crawl_id);
END $$;

-- Autovacuum back on for a crawl's partition (the crawl has ended); a no-op without one.
CREATE FUNCTION mxcensus_end_probe_partition(p_crawl_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF to_regclass(format('%I', 'probe_c' || p_crawl_id)) IS NOT NULL THEN
    EXECUTE format('ALTER TABLE %I RESET (autovacuum_enabled)', 'probe_c' || p_crawl_id);
  END IF;
END $$;
