-- probe is keyed by (crawl_id, target_id) instead of (crawl_id, ip, port, mx_name): the old key
-- (an inet and a text column in a B-tree) cost about 31 % of the server's work per stored row
-- (docs/crawl.md, "The probe table's key"). Still one row per crawl and target: the coordinator
-- refuses a result that is not the target it names (its lease's shard's target of that id, with
-- that target's address, port and MX name), and target is unique on (crawl, ip, port, mx name).

-- Rows that are no target of their crawl (written by hand, or by a tool other than the
-- coordinator) cannot take the new key. They are moved here whole, with when, not lost;
-- researchers read them like probe. Empty in a database that only the coordinator wrote.
CREATE TABLE probe_unmatched (LIKE probe INCLUDING DEFAULTS);
ALTER TABLE probe_unmatched ADD COLUMN moved_at timestamptz NOT NULL DEFAULT now();
COMMENT ON TABLE probe_unmatched IS
  'probe rows that matched no target of their crawl when probe was keyed by target (0005)';
GRANT SELECT ON probe_unmatched TO mxcensus_reader;

DO $$
DECLARE
  fixed bigint;
  moved bigint;
BEGIN
  -- Every row takes the id of the target with its (crawl, ip, port, mx name), which was its
  -- key: at most one row per target. Rows stored by the coordinator carry that id already.
  UPDATE probe p SET target_id = t.target_id FROM target t
   WHERE t.crawl_id = p.crawl_id AND t.ip = p.ip AND t.port = p.port AND t.mx_name = p.mx_name
     AND p.target_id IS DISTINCT FROM t.target_id;
  GET DIAGNOSTICS fixed = ROW_COUNT;
  WITH gone AS (
    DELETE FROM probe p WHERE NOT EXISTS (
      SELECT 1 FROM target t WHERE t.crawl_id = p.crawl_id AND t.ip = p.ip AND t.port = p.port
         AND t.mx_name = p.mx_name)
    RETURNING p.*)
  INSERT INTO probe_unmatched SELECT * FROM gone;
  GET DIAGNOSTICS moved = ROW_COUNT;
  IF fixed > 0 THEN
    RAISE WARNING 'probe: % rows took the target_id of the target with their address, port and MX name',
      fixed;
  END IF;
  IF moved > 0 THEN
    RAISE WARNING 'probe: % rows matched no target of their crawl and were moved to probe_unmatched',
      moved;
  END IF;
END $$;

ALTER TABLE probe ALTER COLUMN target_id SET NOT NULL;
ALTER TABLE probe DROP CONSTRAINT probe_pkey;
ALTER TABLE probe ADD PRIMARY KEY (crawl_id, target_id);
