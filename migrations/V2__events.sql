-- One stored copy per (project, event_id): the primary key is the final word on duplicates.
CREATE TABLE events (
    project_id   uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    event_id     uuid NOT NULL,
    kind         smallint NOT NULL,
    type         text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now(),
    service      text NOT NULL DEFAULT '',
    user_id      text NOT NULL DEFAULT '',
    properties   jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (project_id, event_id)
);
-- Serves ListEvents: newest first within a project, keyset on (occurred_at, event_id).
CREATE INDEX events_project_time ON events (project_id, occurred_at DESC, event_id DESC);

-- The processor's Kafka positions, written in the same transaction as the rows they produced.
CREATE TABLE consumer_offsets (
    topic        text NOT NULL,
    partition    integer NOT NULL,
    next_offset  bigint NOT NULL CHECK (next_offset >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

-- Records the processor could not turn into events (undecodable, unknown project).
CREATE TABLE dead_letters (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    "offset"    bigint NOT NULL,
    project_id  uuid,
    error       text NOT NULL,
    payload     bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, partition, "offset")
);
