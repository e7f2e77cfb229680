-- Telemetry payloads of LOG, METRIC and SPAN events; NULL on product events.
ALTER TABLE events
    ADD COLUMN severity        smallint,          -- LOG: boost.common.v1.Severity number
    ADD COLUMN message         text,              -- LOG
    ADD COLUMN metric_name     text,              -- METRIC
    ADD COLUMN metric_value    double precision,  -- METRIC
    ADD COLUMN metric_unit     text,              -- METRIC
    ADD COLUMN trace_id        text,              -- SPAN (32 hex digits)
    ADD COLUMN span_id         text,              -- SPAN (16 hex digits)
    ADD COLUMN parent_span_id  text,              -- SPAN; NULL for a root span
    ADD COLUMN duration_us     bigint,            -- SPAN
    ADD COLUMN span_error      boolean;           -- SPAN
