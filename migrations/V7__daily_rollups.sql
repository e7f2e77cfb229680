-- Daily counts beside the hourly ones: long ranges read whole days here and
-- only the partial days at their ends from the hourly table. Written in the
-- same statement as the hourly rollups, from the rows that were new.
CREATE TABLE event_rollups_daily (
    project_id        uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    day               timestamptz NOT NULL,  -- midnight UTC
    service           text NOT NULL,
    type              text NOT NULL,
    kind              smallint NOT NULL,
    source_partition  integer NOT NULL,
    events            bigint NOT NULL CHECK (events >= 0),
    PRIMARY KEY (project_id, day, service, type, kind, source_partition)
);
GRANT SELECT ON event_rollups_daily TO boost_reader;
ALTER TABLE event_rollups_daily ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_rows ON event_rollups_daily FOR SELECT TO boost_reader
    USING (project_id = nullif(current_setting('boost.project_id', true), '')::uuid);
