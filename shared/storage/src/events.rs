//! Stored events: bulk insert (duplicates skipped by the primary key) and
//! keyset-paginated listing.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::StorageError;

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
        })
    }
}

const INSERT_BATCH: &str = "
INSERT INTO events (project_id, event_id, kind, type, occurred_at, received_at, service, user_id, properties)
SELECT u.* FROM UNNEST($1::uuid[], $2::uuid[], $3::int2[], $4::text[], $5::timestamptz[],
                       $6::timestamptz[], $7::text[], $8::text[], $9::jsonb[])
    AS u (project_id, event_id, kind, type, occurred_at, received_at, service, user_id, properties)
-- Events of a project deleted meanwhile are dropped, as the cascade would have.
WHERE EXISTS (SELECT 1 FROM projects p WHERE p.id = u.project_id)
ON CONFLICT (project_id, event_id) DO NOTHING";

/// Inserts events in one statement; rows whose (project, event_id) exists are
/// skipped, and so are rows of projects that no longer exist. Returns how
/// many rows were new.
pub async fn insert_batch(
    client: &impl GenericClient,
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
    let statement = client
        .prepare_cached(INSERT_BATCH)
        .await
        .map_err(|e| StorageError::query("prepare insert events", e))?;
    client
        .execute(
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
            ],
        )
        .await
        .map_err(|e| StorageError::query("insert events", e))
}

/// Position after which the next page starts: the last row of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// `occurred_at` of the last row returned.
    pub occurred_at: SystemTime,
    /// `event_id` of the last row returned.
    pub event_id: Uuid,
}

/// A time-range listing within one project.
#[derive(Debug, Clone)]
pub struct EventFilter {
    /// Tenant.
    pub project_id: Uuid,
    /// Inclusive lower bound on `occurred_at`.
    pub start: SystemTime,
    /// Exclusive upper bound on `occurred_at`.
    pub end: SystemTime,
    /// Rows to return at most.
    pub limit: i64,
    /// Continue after this row (newest-first order).
    pub after: Option<Cursor>,
}

const LIST_NEWEST_FIRST: &str = "
SELECT project_id, event_id, kind, type, occurred_at, received_at, service, user_id, properties
FROM events
WHERE project_id = $1 AND occurred_at >= $2 AND occurred_at < $3
  AND (occurred_at, event_id) < ($4, $5)
ORDER BY occurred_at DESC, event_id DESC
LIMIT $6";

/// Lists events newest first. Keyset pagination: stable while new rows arrive.
pub async fn list(
    client: &impl GenericClient,
    filter: &EventFilter,
) -> Result<Vec<StoredEvent>, StorageError> {
    // Without a cursor, start just past the range's end: every row in range qualifies.
    let after = filter.after.unwrap_or(Cursor {
        occurred_at: filter.end,
        event_id: Uuid::max(),
    });
    let statement = client
        .prepare_cached(LIST_NEWEST_FIRST)
        .await
        .map_err(|e| StorageError::query("prepare list events", e))?;
    let rows = client
        .query(
            &statement,
            &[
                &filter.project_id,
                &filter.start,
                &filter.end,
                &after.occurred_at,
                &after.event_id,
                &filter.limit,
            ],
        )
        .await
        .map_err(|e| StorageError::query("list events", e))?;
    rows.into_iter()
        .map(StoredEvent::try_from)
        .collect::<Result<_, _>>()
        .map_err(|e| StorageError::query("read events", e))
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
