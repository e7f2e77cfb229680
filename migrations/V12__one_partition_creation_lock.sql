-- Creating day partitions took one advisory lock per day. A statement that
-- creates several days (one batch spanning midnight, or a backlog) could
-- then hold the lock on `events` that creating day A takes while waiting
-- for day B's advisory lock, held by another processor waiting for `events`
-- behind a reader: PostgreSQL broke the cycle by failing one of them, the
-- reader included ("deadlock detected"). One lock for all partition
-- creation, taken before anything is created, leaves no cycle.
CREATE OR REPLACE FUNCTION boost_event_partition(at timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    day   date := (at AT TIME ZONE 'UTC')::date;
    name  text := 'events_' || to_char(day, 'YYYYMMDD');
BEGIN
    IF to_regclass(name) IS NULL THEN
        -- Processors may race: the second waits on the lock, then sees it.
        PERFORM pg_advisory_xact_lock(hashtext('boost_event_partition'));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                name, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
        END IF;
    END IF;
    RETURN name;
END $$;
