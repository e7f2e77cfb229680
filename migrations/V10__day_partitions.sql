-- Events partitioned by UTC day of occurred_at, so retention drops whole
-- days and each day's indexes stay small. A partitioned table's unique keys
-- must include the partition key, so (project, event_id) uniqueness moves
-- to event_ids: the processor inserts an id there first and stores the
-- event only when the id was new.
CREATE TABLE event_ids (
    project_id   uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    event_id     uuid NOT NULL,
    occurred_at  timestamptz NOT NULL,
    PRIMARY KEY (project_id, event_id)
);
-- Serves retention's per-project deletes.
CREATE INDEX event_ids_project_time ON event_ids (project_id, occurred_at);

ALTER TABLE events RENAME TO events_unpartitioned;
ALTER INDEX events_pkey RENAME TO events_unpartitioned_pkey;
ALTER INDEX events_project_time RENAME TO events_unpartitioned_time;
ALTER INDEX events_project_stored RENAME TO events_unpartitioned_stored;
ALTER INDEX events_project_service_time RENAME TO events_unpartitioned_service_time;

CREATE TABLE events (
    LIKE events_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    PRIMARY KEY (project_id, event_id, occurred_at),
    FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
) PARTITION BY RANGE (occurred_at);
CREATE INDEX events_project_time ON events (project_id, occurred_at DESC, event_id DESC);
CREATE INDEX events_project_stored ON events (project_id, stored_at);
CREATE INDEX events_project_service_time ON events (project_id, service, occurred_at DESC, event_id DESC);

GRANT SELECT ON events, event_ids TO boost_reader;
ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_ids ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_rows ON events FOR SELECT TO boost_reader
    USING (project_id = nullif(current_setting('boost.project_id', true), '')::uuid);
CREATE POLICY project_rows ON event_ids FOR SELECT TO boost_reader
    USING (project_id = nullif(current_setting('boost.project_id', true), '')::uuid);

-- Creates the partition for the UTC day holding `at` unless it exists:
-- events_YYYYMMDD. The processor calls it for each new day it stores.
CREATE FUNCTION boost_event_partition(at timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    day   date := (at AT TIME ZONE 'UTC')::date;
    name  text := 'events_' || to_char(day, 'YYYYMMDD');
BEGIN
    IF to_regclass(name) IS NULL THEN
        -- Two processors may race: the second waits on the lock, then sees it.
        PERFORM pg_advisory_xact_lock(hashtext(name));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                name, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
        END IF;
    END IF;
    RETURN name;
END $$;

SELECT boost_event_partition(d)
FROM (SELECT DISTINCT date_trunc('day', occurred_at, 'UTC') AS d FROM events_unpartitioned) days;
INSERT INTO events SELECT * FROM events_unpartitioned;
INSERT INTO event_ids SELECT project_id, event_id, occurred_at FROM events_unpartitioned;
DROP TABLE events_unpartitioned;
