-- Result batches the coordinator could not store as they were (a result that is not the target
-- it names, an address that is not one, a chain element without DER whose SHA-256 is not 32
-- bytes): kept here whole (up to a cap), with the reason, and acked, so that the worker drops
-- them and carries on instead of re-sending them forever. Nothing of such a batch is in probe or
-- crawl_domain and it moved no shard: its items are probed again under a later lease
-- (docs/crawl.md, "Exactly once, whatever dies").
--
-- No foreign key to crawl: a batch naming a crawl that does not exist is refused too, and must
-- still be kept.
CREATE TABLE refused_batch (
  id            bigserial PRIMARY KEY,
  refused_at    timestamptz NOT NULL DEFAULT now(),
  crawl_id      bigint NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('resolve', 'probe')),
  shard_id      integer NOT NULL,
  lease_token   bigint NOT NULL,
  worker        text NOT NULL,
  batch_id      bigint NOT NULL,           -- the worker's sequence number of the batch
  reason        text NOT NULL,             -- the coordinator's error: names worker and result
  items         integer NOT NULL,          -- results in the batch
  payload_items integer NOT NULL,          -- results kept in payload: the first ones, capped
  payload       jsonb NOT NULL             -- JSON array of results (docs/result-schema.md)
);
-- The same batch delivered again (its ack was lost with the stream) is kept once: same worker,
-- lease, batch number and content. The texts go in as digests: an index entry has a size limit.
CREATE UNIQUE INDEX refused_batch_once ON refused_batch
  (crawl_id, kind, shard_id, lease_token, batch_id, md5(worker), md5(payload::text));
CREATE INDEX refused_batch_crawl ON refused_batch (crawl_id, refused_at);
COMMENT ON TABLE refused_batch IS
  'result batches the coordinator could not store as they were, kept with the reason (0006)';
GRANT SELECT ON refused_batch TO mxcensus_reader;
