-- Consumer offsets belong to one broker log. They are keyed by the broker
-- cluster's id as well as the topic, so a different cluster is never read
-- from offsets stored against another; and each keeps the SHA-256 of the
-- last stored record's value, so a reset broker with the same cluster id
-- (a new log that grew past the stored offset) is told apart too.
-- Rows stored before this migration have cluster_id '' and are adopted by
-- the first processor that starts against a cluster.
ALTER TABLE consumer_offsets ADD COLUMN cluster_id text NOT NULL DEFAULT '';
ALTER TABLE consumer_offsets ADD COLUMN last_record_sha256 bytea;
ALTER TABLE consumer_offsets DROP CONSTRAINT consumer_offsets_pkey;
ALTER TABLE consumer_offsets ADD PRIMARY KEY (cluster_id, topic, partition);
