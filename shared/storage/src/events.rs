//! Stored events: bulk insert (duplicates skipped by the primary key, with
//! end users and hourly rollups updated from the new rows in the same
//! statement) and keyset-paginated listing.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::{
    StorageError,
    filter::{EventFilter, Sql},
};

/// One event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Tenant.
    pub project_id: Uuid,
    /// Client idempotency key.
    pub event_id: Uuid,
    /// `boost.common.v1.EventKind` number.
    pub kind: i16,
    /// Event name.
    pub event_type: String,
    /// When it happened.
    pub occurred_at: SystemTime,
    /// When ingest received it.
    pub received_at: SystemTime,
    /// Emitting service, or empty.
    pub service: String,
    /// End-user id, or empty.
    pub user_id: String,
    /// Free-form payload.
    pub properties: serde_json::Value,
    /// The telemetry payload of LOG, METRIC and SPAN events.
    pub telemetry: Option<Telemetry>,
}

/// The kind-specific payload of a telemetry event, one variant per kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Telemetry {
    /// A log line.
    Log {
        /// `boost.common.v1.Severity` number.
        severity: i16,
        /// The message.
        message: String,
    },
    /// A metric sample.
    Metric {
        /// Metric name.
        name: String,
        /// The sample.
        value: f64,
        /// Unit, or empty.
        unit: String,
    },
    /// A finished span.
    Span {
        /// W3C trace id (hex).
        trace_id: String,
        /// W3C span id (hex).
        span_id: String,
        /// Parent span id, or None for a root span.
        parent_span_id: Option<String>,
        /// Duration in microseconds.
        duration_us: i64,
        /// Whether it ended in an error.
        error: bool,
    },
}

/// The telemetry columns of one row, NULL where the kind has none.
#[derive(Default)]
struct TelemetryColumns<'a> {
    severity: Option<i16>,
    message: Option<&'a str>,
    metric_name: Option<&'a str>,
    metric_value: Option<f64>,
    metric_unit: Option<&'a str>,
    trace_id: Option<&'a str>,
    span_id: Option<&'a str>,
    parent_span_id: Option<&'a str>,
    duration_us: Option<i64>,
    span_error: Option<bool>,
}

impl<'a> From<Option<&'a Telemetry>> for TelemetryColumns<'a> {
    fn from(telemetry: Option<&'a Telemetry>) -> Self {
        match telemetry {
            None => Self::default(),
            Some(Telemetry::Log { severity, message }) => Self {
                severity: Some(*severity),
                message: Some(message),
                ..Self::default()
            },
            Some(Telemetry::Metric { name, value, unit }) => Self {
                metric_name: Some(name),
                metric_value: Some(*value),
                metric_unit: Some(unit),
                ..Self::default()
            },
            Some(Telemetry::Span {
                trace_id,
                span_id,
                parent_span_id,
                duration_us,
                error,
            }) => Self {
                trace_id: Some(trace_id),
                span_id: Some(span_id),
                parent_span_id: parent_span_id.as_deref(),
                duration_us: Some(*duration_us),
                span_error: Some(*error),
                ..Self::default()
            },
        }
    }
}

/// Reads the telemetry columns back; `None` for product events.
fn telemetry_from_row(row: &Row) -> Result<Option<Telemetry>, tokio_postgres::Error> {
    if let Some(severity) = row.try_get::<_, Option<i16>>("severity")? {
        return Ok(Some(Telemetry::Log {
            severity,
            message: row
                .try_get::<_, Option<String>>("message")?
                .unwrap_or_default(),
        }));
    }
    if let Some(name) = row.try_get::<_, Option<String>>("metric_name")? {
        return Ok(Some(Telemetry::Metric {
            name,
            value: row
                .try_get::<_, Option<f64>>("metric_value")?
                .unwrap_or_default(),
            unit: row
                .try_get::<_, Option<String>>("metric_unit")?
                .unwrap_or_default(),
        }));
    }
    if let Some(trace_id) = row.try_get::<_, Option<String>>("trace_id")? {
        return Ok(Some(Telemetry::Span {
            trace_id,
            span_id: row
                .try_get::<_, Option<String>>("span_id")?
                .unwrap_or_default(),
            parent_span_id: row.try_get("parent_span_id")?,
            duration_us: row
                .try_get::<_, Option<i64>>("duration_us")?
                .unwrap_or_default(),
            error: row
                .try_get::<_, Option<bool>>("span_error")?
                .unwrap_or_default(),
        }));
    }
    Ok(None)
}

/// The columns every event read selects (a macro so SQL constants can embed it).
macro_rules! event_columns {
    () => {
        "project_id, event_id, kind, type, occurred_at, received_at, service, user_id, \
         properties, severity, message, metric_name, metric_value, metric_unit, trace_id, \
         span_id, parent_span_id, duration_us, span_error"
    };
}

impl TryFrom<Row> for StoredEvent {
    type Error = tokio_postgres::Error;
    fn try_from(row: Row) -> Result<Self, Self::Error> {
        Ok(Self {
            project_id: row.try_get("project_id")?,
            event_id: row.try_get("event_id")?,
            kind: row.try_get("kind")?,
            event_type: row.try_get("type")?,
            occurred_at: row.try_get("occurred_at")?,
            received_at: row.try_get("received_at")?,
            service: row.try_get("service")?,
            user_id: row.try_get("user_id")?,
            properties: row.try_get("properties")?,
            telemetry: telemetry_from_row(&row)?,
        })
    }
}

const INSERT_BATCH: &str = "
WITH input AS (
    SELECT DISTINCT ON (u.project_id, u.event_id) u.*
    FROM UNNEST($1::uuid[], $2::uuid[], $3::int2[], $4::text[], $5::timestamptz[],
                $6::timestamptz[], $7::text[], $8::text[], $9::jsonb[], $10::int2[],
                $11::text[], $12::text[], $13::float8[], $14::text[], $15::text[],
                $16::text[], $17::text[], $18::int8[], $19::bool[])
        AS u (project_id, event_id, kind, type, occurred_at, received_at, service, user_id,
              properties, severity, message, metric_name, metric_value, metric_unit,
              trace_id, span_id, parent_span_id, duration_us, span_error)
    -- Events of a project deleted meanwhile are dropped, as the cascade would have.
    WHERE EXISTS (SELECT 1 FROM projects p WHERE p.id = u.project_id)
), ids AS (
    -- (project, event_id) is unique here; only ids that were new go on.
    INSERT INTO event_ids (project_id, event_id, occurred_at)
    SELECT project_id, event_id, occurred_at FROM input ORDER BY 1, 2
    ON CONFLICT (project_id, event_id) DO NOTHING
    RETURNING project_id, event_id
), new AS (
    INSERT INTO events (project_id, event_id, kind, type, occurred_at, received_at, service,
                        user_id, properties, severity, message, metric_name, metric_value,
                        metric_unit, trace_id, span_id, parent_span_id, duration_us, span_error)
    SELECT i.* FROM input i JOIN ids USING (project_id, event_id)
    RETURNING project_id, occurred_at, service, type, kind, user_id, properties
), rollups AS (
    INSERT INTO event_rollups_hourly AS r
           (project_id, hour, service, type, kind, source_partition, events)
    SELECT project_id, date_trunc('hour', occurred_at, 'UTC'), service, type, kind, $20, count(*)
    FROM new GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (project_id, hour, service, type, kind, source_partition)
    DO UPDATE SET events = r.events + EXCLUDED.events
), daily AS (
    INSERT INTO event_rollups_daily AS r
           (project_id, day, service, type, kind, source_partition, events)
    SELECT project_id, date_trunc('day', occurred_at, 'UTC'), service, type, kind, $20, count(*)
    FROM new GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (project_id, day, service, type, kind, source_partition)
    DO UPDATE SET events = r.events + EXCLUDED.events
), minutes AS (
    INSERT INTO event_rollups_minutely AS r (project_id, minute, source_partition, events)
    SELECT project_id, date_trunc('minute', occurred_at, 'UTC'), $20, count(*)
    FROM new WHERE occurred_at >= now() - interval '2 hours'
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (project_id, minute, source_partition)
    DO UPDATE SET events = r.events + EXCLUDED.events
), old_minutes AS (
    DELETE FROM event_rollups_minutely
    WHERE source_partition = $20 AND minute < now() - interval '3 hours'
), users AS (
    INSERT INTO end_users AS e (project_id, user_id, traits, first_seen, last_seen, events)
    SELECT project_id, user_id,
           jsonb_merge_agg(properties ORDER BY occurred_at) FILTER (WHERE kind = 2), -- 2 = EVENT_KIND_IDENTIFY: traits come from IDENTIFY events
           min(occurred_at), max(occurred_at), count(*)
    FROM new WHERE user_id <> '' GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (project_id, user_id) DO UPDATE SET
        traits = e.traits || coalesce(EXCLUDED.traits, '{}'),
        first_seen = least(e.first_seen, EXCLUDED.first_seen),
        last_seen = greatest(e.last_seen, EXCLUDED.last_seen),
        events = e.events + EXCLUDED.events
)
SELECT count(*) FROM new";

/// Inserts events in one statement; events whose (project, event_id) is
/// already in `event_ids` are skipped, and so are events of projects that no
/// longer exist. The day partitions must exist ([`crate::partitions`]). From the rows
/// that were new, the same statement adds to the hourly and daily rollups
/// and, for events of the last 2 hours, the minute rollups (all under
/// `partition`, whose minute rows older than 3 hours it deletes), and to the
/// end users (traits merged from IDENTIFY events).
/// Run it in the transaction that saves the offset: a replay then finds no
/// new rows and counts nothing twice. Returns how many rows were new.
pub async fn insert_batch(
    client: &impl GenericClient,
    partition: i32,
    events: &[StoredEvent],
) -> Result<u64, StorageError> {
    if events.is_empty() {
        return Ok(0);
    }
    let project_ids: Vec<Uuid> = events.iter().map(|e| e.project_id).collect();
    let event_ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let kinds: Vec<i16> = events.iter().map(|e| e.kind).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let occurred: Vec<SystemTime> = events.iter().map(|e| e.occurred_at).collect();
    let received: Vec<SystemTime> = events.iter().map(|e| e.received_at).collect();
    let services: Vec<&str> = events.iter().map(|e| e.service.as_str()).collect();
    let users: Vec<&str> = events.iter().map(|e| e.user_id.as_str()).collect();
    let properties: Vec<&serde_json::Value> = events.iter().map(|e| &e.properties).collect();
    let telemetry: Vec<TelemetryColumns> = events
        .iter()
        .map(|e| TelemetryColumns::from(e.telemetry.as_ref()))
        .collect();
    let severity: Vec<_> = telemetry.iter().map(|t| t.severity).collect();
    let message: Vec<_> = telemetry.iter().map(|t| t.message).collect();
    let metric_name: Vec<_> = telemetry.iter().map(|t| t.metric_name).collect();
    let metric_value: Vec<_> = telemetry.iter().map(|t| t.metric_value).collect();
    let metric_unit: Vec<_> = telemetry.iter().map(|t| t.metric_unit).collect();
    let trace_id: Vec<_> = telemetry.iter().map(|t| t.trace_id).collect();
    let span_id: Vec<_> = telemetry.iter().map(|t| t.span_id).collect();
    let parent_span_id: Vec<_> = telemetry.iter().map(|t| t.parent_span_id).collect();
    let duration_us: Vec<_> = telemetry.iter().map(|t| t.duration_us).collect();
    let span_error: Vec<_> = telemetry.iter().map(|t| t.span_error).collect();
    let statement = client
        .prepare_cached(INSERT_BATCH)
        .await
        .map_err(|e| StorageError::query("prepare insert events", e))?;
    let row = client
        .query_one(
            &statement,
            &[
                &project_ids,
                &event_ids,
                &kinds,
                &types,
                &occurred,
                &received,
                &services,
                &users,
                &properties,
                &severity,
                &message,
                &metric_name,
                &metric_value,
                &metric_unit,
                &trace_id,
                &span_id,
                &parent_span_id,
                &duration_us,
                &span_error,
                &partition,
            ],
        )
        .await
        .map_err(|e| StorageError::query("insert events", e))?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// Position after which the next page starts: the last row of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// `occurred_at` of the last row returned.
    pub occurred_at: SystemTime,
    /// `event_id` of the last row returned.
    pub event_id: Uuid,
}

/// A page of a filtered listing.
#[derive(Debug, Clone)]
pub struct Page {
    /// Rows to return at most.
    pub limit: i64,
    /// Continue after this row.
    pub after: Option<Cursor>,
    /// Oldest first instead of newest first.
    pub oldest_first: bool,
}

/// Lists matching events, newest (or oldest) first. Keyset pagination on
/// (occurred_at, event_id): stable while new rows arrive.
pub async fn list(
    client: &impl GenericClient,
    filter: &EventFilter,
    page: &Page,
) -> Result<Vec<StoredEvent>, StorageError> {
    let mut sql = Sql::new(concat!("SELECT ", event_columns!(), " FROM events"));
    filter.push_where(&mut sql);
    let (direction, comparison) = if page.oldest_first {
        ("ASC", ">")
    } else {
        ("DESC", "<")
    };
    if let Some(after) = page.after {
        let time = sql.param(after.occurred_at);
        let id = sql.param(after.event_id);
        sql.push(&format!(
            " AND (occurred_at, event_id) {comparison} ({time}, {id})"
        ));
    }
    let limit = sql.param(page.limit);
    sql.push(&format!(
        " ORDER BY occurred_at {direction}, event_id {direction} LIMIT {limit}"
    ));
    let rows = sql.query(client, "list events").await?;
    rows.into_iter()
        .map(StoredEvent::try_from)
        .collect::<Result<_, _>>()
        .map_err(|e| StorageError::query("read events", e))
}

/// Matching rows counted exactly up to `exact_up_to`; above it, the
/// planner's estimate. Returns (count, exact).
pub async fn total(
    client: &impl GenericClient,
    filter: &EventFilter,
    exact_up_to: i64,
) -> Result<(i64, bool), StorageError> {
    let mut sql = Sql::new("SELECT count(*) FROM (SELECT 1 FROM events");
    filter.push_where(&mut sql);
    let cap = sql.param(exact_up_to + 1);
    sql.push(&format!(" LIMIT {cap}) capped"));
    let counted: i64 = sql.query(client, "count events").await?[0].get(0);
    if counted <= exact_up_to {
        return Ok((counted, true));
    }
    let mut sql = Sql::new("EXPLAIN (FORMAT JSON) SELECT 1 FROM events");
    filter.push_where(&mut sql);
    let plan: serde_json::Value = sql.query(client, "estimate events").await?[0].get(0);
    let estimate = plan[0]["Plan"]["Plan Rows"].as_f64().unwrap_or(0.0) as i64;
    Ok((estimate.max(counted), false))
}

/// One event by id, within its project.
pub async fn get(
    client: &impl GenericClient,
    project_id: Uuid,
    event_id: Uuid,
) -> Result<Option<StoredEvent>, StorageError> {
    let row = client
        .query_opt(
            concat!(
                "SELECT ",
                event_columns!(),
                " FROM events WHERE project_id = $1 AND event_id = $2"
            ),
            &[&project_id, &event_id],
        )
        .await
        .map_err(|e| StorageError::query("get event", e))?;
    row.map(StoredEvent::try_from)
        .transpose()
        .map_err(|e| StorageError::query("read event", e))
}

/// Events of a project stored after the (stored_at, event_id) position
/// `after`, in that order: the live tail polls this.
pub async fn stored_since(
    client: &impl GenericClient,
    filter: &EventFilter,
    after: (SystemTime, Uuid),
    limit: i64,
) -> Result<Vec<(SystemTime, StoredEvent)>, StorageError> {
    let mut sql = Sql::new(concat!(
        "SELECT stored_at, ",
        event_columns!(),
        " FROM events"
    ));
    filter.push_where(&mut sql);
    let time = sql.param(after.0);
    let id = sql.param(after.1);
    let limit = sql.param(limit);
    sql.push(&format!(
        " AND (stored_at, event_id) > ({time}, {id}) ORDER BY stored_at, event_id LIMIT {limit}"
    ));
    sql.query(client, "tail events")
        .await?
        .into_iter()
        .map(|row| Ok((row.try_get(0)?, StoredEvent::try_from(row)?)))
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(|e| StorageError::query("read tailed events", e))
}

/// Counts a project's stored events (tests and checks).
pub async fn count(client: &impl GenericClient, project_id: Uuid) -> Result<i64, StorageError> {
    let row = client
        .query_one(
            "SELECT count(*) FROM events WHERE project_id = $1",
            &[&project_id],
        )
        .await
        .map_err(|e| StorageError::query("count events", e))?;
    Ok(row.get(0))
}
