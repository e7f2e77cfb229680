-- Who did what to tenants and keys. Append-only: a trigger refuses UPDATE and
-- DELETE. No foreign keys, so the trail outlives deleted projects.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,          -- 'operator' or 'key:<uuid>'
    action      text NOT NULL,          -- e.g. 'api_key.revoke'
    project_id  uuid,
    target_id   uuid,
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_project ON audit_log (project_id, at);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
