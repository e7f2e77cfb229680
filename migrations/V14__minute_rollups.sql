-- Per-minute counts of the last few hours, so GetMetrics' "last hour" sums
-- at most 61 minutes × partitions rows instead of counting raw rows (at
-- 10,000 events/s an hour is 36 million rows, most of them too fresh for an
-- index-only scan). Written in the batch's statement from the rows that were
-- new, only for events that occurred in the last 2 hours; each partition
-- deletes its own rows older than 3 hours in the same statement.
CREATE TABLE event_rollups_minutely (
    project_id        uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    minute            timestamptz NOT NULL,
    source_partition  integer NOT NULL,
    events            bigint NOT NULL CHECK (events >= 0),
    PRIMARY KEY (project_id, minute, source_partition)
);
-- Serves the per-partition clean-up.
CREATE INDEX event_rollups_minutely_age ON event_rollups_minutely (source_partition, minute);
GRANT SELECT ON event_rollups_minutely TO boost_reader;
ALTER TABLE event_rollups_minutely ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_rows ON event_rollups_minutely FOR SELECT TO boost_reader
    USING (project_id = nullif(current_setting('boost.project_id', true), '')::uuid);
