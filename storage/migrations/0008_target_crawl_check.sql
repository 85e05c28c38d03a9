-- A crawl's targets are derived by one INSERT of all of them (storage/crawl_queries.cc) while
-- every worker waits for the probing stage to start. The foreign key target -> crawl checked
-- each of those rows on its own (a trigger and a lookup per row): 0.95 s of the 2.6 s that
-- statement took for 107,649 targets (docs/crawl.md, "Eighth pass"). The same guarantees, kept
-- by one check per statement:
--   * no target without its crawl: after each INSERT into target, the crawls its rows name are
--     locked FOR KEY SHARE (as the foreign key's check locks them: a concurrent DELETE of the
--     crawl waits for this transaction) and a missing one fails the statement with SQLSTATE
--     23503 (foreign_key_violation), as before;
--   * deleting a crawl deletes its targets (ON DELETE CASCADE before);
--   * a crawl's id does not change while targets name it (ON UPDATE NO ACTION before).
-- TRUNCATE crawl CASCADE no longer reaches target (nothing here truncates; deploy/sql/drop-crawl.sql
-- deletes).
-- The other tables keep their foreign keys: their rows arrive in batches, where a per-row check
-- costs nothing that anyone waits for.
ALTER TABLE target DROP CONSTRAINT target_crawl_id_fkey;

CREATE FUNCTION mxcensus_target_crawl_exists() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  id bigint;
BEGIN
  -- One pass per crawl named: a derivation names one.
  FOR id IN SELECT DISTINCT crawl_id FROM added LOOP
    PERFORM 1 FROM crawl WHERE crawl_id = id FOR KEY SHARE;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'insert into target names crawl %, which does not exist', id
        USING ERRCODE = 'foreign_key_violation', TABLE = 'target';
    END IF;
  END LOOP;
  RETURN NULL;
END $$;

CREATE TRIGGER target_crawl_exists AFTER INSERT ON target
  REFERENCING NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION mxcensus_target_crawl_exists();

CREATE FUNCTION mxcensus_target_crawl_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.crawl_id IS DISTINCT FROM OLD.crawl_id THEN
    RAISE EXCEPTION 'target rows name a crawl by its id: they cannot move to another crawl'
      USING ERRCODE = 'foreign_key_violation', TABLE = 'target';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER target_crawl_update BEFORE UPDATE OF crawl_id ON target
  FOR EACH ROW EXECUTE FUNCTION mxcensus_target_crawl_update();

CREATE FUNCTION mxcensus_crawl_delete_targets() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM target WHERE crawl_id = OLD.crawl_id;
  RETURN NULL;
END $$;

CREATE TRIGGER crawl_delete_targets AFTER DELETE ON crawl
  FOR EACH ROW EXECUTE FUNCTION mxcensus_crawl_delete_targets();

CREATE FUNCTION mxcensus_crawl_id_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.crawl_id IS DISTINCT FROM OLD.crawl_id
     AND EXISTS (SELECT 1 FROM target WHERE crawl_id = OLD.crawl_id) THEN
    RAISE EXCEPTION 'crawl % has targets: its id cannot change', OLD.crawl_id
      USING ERRCODE = 'foreign_key_violation', TABLE = 'crawl';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER crawl_id_update BEFORE UPDATE OF crawl_id ON crawl
  FOR EACH ROW EXECUTE FUNCTION mxcensus_crawl_id_update();
