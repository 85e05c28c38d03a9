-- A crawl's probe partition is cut in two by target id, one slot for each of the coordinator's
-- two ingest writers. Both writers COPYing into one relation waited for each other to extend
-- it: PostgreSQL 15 extends a heap one page at a time (16 adds bulk extension) under the
-- relation's extension lock, and a writer's backend spent 11 % of its time waiting for that
-- lock and 6 % extending (docs/crawl.md, "Eleventh pass"). Target derivation
-- (storage/crawl_queries.cc) gives the even probe shards the first slot's targets and the odd
-- ones the second's, and the coordinator sends a crawl's even and odd shards to different
-- writers, so each writer extends its own heap and its own primary-key index.
--
-- The second slot is the DEFAULT partition, made with the crawl: rows of a crawl whose targets
-- are not derived yet (written by hand or by another tool) have a place. Derivation adds the
-- first slot, ids up to the split, once the crawl's target count is known (and moves such rows
-- with those ids into it). Partitions of crawls
-- created before this migration stay as they are (one table); their shards are cut the new
-- way all the same, which changes nothing for them.
CREATE OR REPLACE FUNCTION mxcensus_create_probe_partition(p_crawl_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF probe FOR VALUES IN (%s) '
                 'PARTITION BY RANGE (target_id)',
                 'probe_c' || p_crawl_id, p_crawl_id);
  -- Autovacuum off while the crawl runs (0007), on the tables that hold rows.
  EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I DEFAULT '
                 'WITH (autovacuum_enabled = off)',
                 'probe_c' || p_crawl_id || '_s1', 'probe_c' || p_crawl_id);
END $$;

-- The tables that hold a crawl's probe rows: its partition's slots, or the partition itself when
-- it is one table (made before this migration); none without a partition.
CREATE FUNCTION mxcensus_probe_tables(p_crawl_id bigint) RETURNS SETOF regclass
LANGUAGE sql STABLE AS $$
  SELECT c.oid::regclass FROM pg_class c
  WHERE c.relkind = 'r'
    AND (c.oid = to_regclass(format('%I', 'probe_c' || p_crawl_id))
         OR c.oid IN (SELECT inhrelid FROM pg_inherits
                      WHERE inhparent = to_regclass(format('%I', 'probe_c' || p_crawl_id))))
$$;

-- The first slot of a crawl's partition: target ids up to p_split. A no-op for a partition
-- that is not cut in slots (made before this migration) and when the slot exists. Rows that the
-- default slot holds already with such ids (written before derivation, by hand or by another
-- tool) move into the new slot before it is attached: PostgreSQL refuses a new partition whose
-- rows sit in the default one, and that refusal would hold up the derivation of every crawl.
-- Attaching needs the default slot to itself, which a reader's query over all of `probe` holds
-- until it ends: waiting for it would hold up every worker and queue every later query on
-- `probe` behind the derivation, so the wait is bounded and the derivation runs again at the
-- coordinator's next pass.
CREATE FUNCTION mxcensus_create_probe_slots(p_crawl_id bigint, p_split bigint) RETURNS void
LANGUAGE plpgsql SET lock_timeout = '2s' AS $$
DECLARE
  parent regclass := to_regclass(format('%I', 'probe_c' || p_crawl_id));
  s0 text := 'probe_c' || p_crawl_id || '_s0';
  s1 text := 'probe_c' || p_crawl_id || '_s1';
BEGIN
  IF parent IS NULL OR (SELECT relkind FROM pg_class WHERE oid = parent) <> 'p'
     OR to_regclass(format('%I', s0)) IS NOT NULL THEN
    RETURN;
  END IF;
  EXECUTE format('CREATE TABLE %I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS) '
                 'WITH (autovacuum_enabled = off)', s0, parent);
  EXECUTE format('WITH moved AS (DELETE FROM %I WHERE target_id <= %s RETURNING *) '
                 'INSERT INTO %I SELECT * FROM moved', s1, p_split, s0);
  EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%s)',
                 parent, s0, p_split + 1);
END $$;

-- Autovacuum back on for the tables of a crawl's partition (the crawl has ended).
CREATE OR REPLACE FUNCTION mxcensus_end_probe_partition(p_crawl_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  leaf regclass;
BEGIN
  FOR leaf IN SELECT mxcensus_probe_tables(p_crawl_id) LOOP
    EXECUTE format('ALTER TABLE %s RESET (autovacuum_enabled)', leaf);
  END LOOP;
END $$;
