-- Per-project retention: the processor's daily job (and `boost-retention`)
-- deletes a project's events, and its hourly and daily rollups, from before
-- midnight UTC `retention_days` days ago. End users keep their lifetime
-- counts; dead letters stay until purged.
ALTER TABLE projects
    ADD COLUMN retention_days integer NOT NULL DEFAULT 30
        CHECK (retention_days BETWEEN 1 AND 3650);
