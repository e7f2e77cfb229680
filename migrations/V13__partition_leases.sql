-- Processors share a topic's partitions through leases (rskafka has no
-- consumer groups, and offsets already live here). A lease has an owner,
-- an expiry the owner keeps renewing, and an epoch raised on every claim.
-- Each batch's transaction checks the epoch it claimed with (FOR KEY SHARE),
-- so an owner that lost its lease while paused cannot commit rows or an
-- offset after another instance took the partition over.
CREATE TABLE partition_leases (
    cluster_id text        NOT NULL,
    topic      text        NOT NULL,
    partition  int         NOT NULL,
    owner      text        NOT NULL DEFAULT '',
    epoch      bigint      NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (cluster_id, topic, partition)
);

-- The processor instances alive on a topic (each renews its row while it
-- runs): how many there are decides each one's fair share of partitions.
CREATE TABLE processor_instances (
    cluster_id text        NOT NULL,
    topic      text        NOT NULL,
    instance   text        NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (cluster_id, topic, instance)
);
