-- Row-level security: the query service reads as boost_reader with
-- boost.project_id set per transaction (SET LOCAL), and sees only that
-- project's rows; without the setting it sees nothing. Writers (processor,
-- auth) connect as the tables' owner and are not restricted.
DO $$
BEGIN
    CREATE ROLE boost_reader NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
GRANT boost_reader TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO boost_reader;
GRANT SELECT ON events, end_users, event_rollups_hourly, dead_letters TO boost_reader;

ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE end_users ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_rollups_hourly ENABLE ROW LEVEL SECURITY;
ALTER TABLE dead_letters ENABLE ROW LEVEL SECURITY;

CREATE POLICY project_rows ON events FOR SELECT TO boost_reader
    USING (project_id = nullif(current_setting('boost.project_id', true), '')::uuid);
CREATE POLICY project_rows ON end_users FOR SELECT TO boost_reader
    USING (project_id = nullif(current_setting('boost.project_id', true), '')::uuid);
CREATE POLICY project_rows ON event_rollups_hourly FOR SELECT TO boost_reader
    USING (project_id = nullif(current_setting('boost.project_id', true), '')::uuid);
CREATE POLICY project_rows ON dead_letters FOR SELECT TO boost_reader
    USING (project_id = nullif(current_setting('boost.project_id', true), '')::uuid);

-- Serves TailEvents: a project's rows in the order they were stored.
CREATE INDEX events_project_stored ON events (project_id, stored_at);
