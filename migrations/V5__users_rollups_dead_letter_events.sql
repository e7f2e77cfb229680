-- End users per project. Written by the processor from the events that were
-- new in a batch: IDENTIFY merges its properties into traits (later wins),
-- every event with a user_id moves first/last seen and the count.
CREATE TABLE end_users (
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id     text NOT NULL,
    traits      jsonb NOT NULL DEFAULT '{}',
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    events      bigint NOT NULL DEFAULT 0 CHECK (events >= 0),
    PRIMARY KEY (project_id, user_id)
);
-- Serves ListUsers: most recently seen first.
CREATE INDEX end_users_last_seen ON end_users (project_id, last_seen DESC, user_id DESC);

-- Hourly counts of stored events, written in the batch's transaction from the
-- rows that were new, so a replay never counts twice. Each partition writes its
-- own rows (source_partition), so partitions never wait on each other's locks;
-- readers sum over it.
CREATE TABLE event_rollups_hourly (
    project_id        uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    hour              timestamptz NOT NULL,
    service           text NOT NULL,
    type              text NOT NULL,
    kind              smallint NOT NULL,
    source_partition  integer NOT NULL,
    events            bigint NOT NULL CHECK (events >= 0),
    PRIMARY KEY (project_id, hour, service, type, kind, source_partition)
);

-- Merges jsonb objects left to right (traits of successive IDENTIFY events).
CREATE AGGREGATE jsonb_merge_agg (jsonb) (SFUNC = jsonb_concat, STYPE = jsonb, INITCOND = '{}');

-- Dead letters per event (a handler refused one event of a record) beside the
-- whole-record letters (the record could not be decoded: event_index = -1).
ALTER TABLE dead_letters
    ADD COLUMN event_index  integer NOT NULL DEFAULT -1,
    ADD COLUMN event_id     uuid,
    ADD COLUMN handler      text,
    ADD COLUMN attempts     integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    ADD COLUMN status       text NOT NULL DEFAULT 'failed' CHECK (status IN ('failed', 'replayed')),
    ADD COLUMN updated_at   timestamptz NOT NULL DEFAULT now();
ALTER TABLE dead_letters DROP CONSTRAINT dead_letters_topic_partition_offset_key;
ALTER TABLE dead_letters ADD CONSTRAINT dead_letters_position UNIQUE (topic, partition, "offset", event_index);
-- One letter per failed event: a replay that fails again counts an attempt.
CREATE UNIQUE INDEX dead_letters_event ON dead_letters (project_id, event_id) WHERE event_id IS NOT NULL;
CREATE INDEX dead_letters_project ON dead_letters (project_id, id DESC);
