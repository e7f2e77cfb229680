//! What the processor could not store, kept with the reason so nothing
//! acknowledged silently disappears: whole records it could not decode, and
//! single events a handler refused (status `failed`, with an attempt count).

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::StorageError;

/// Where a dead letter was read from.
#[derive(Debug, Clone, Copy)]
pub struct Position<'a> {
    /// Kafka topic.
    pub topic: &'a str,
    /// Kafka partition.
    pub partition: i32,
    /// Kafka offset of the record.
    pub offset: i64,
}

/// A record that could not be decoded at all.
#[derive(Debug, Clone)]
pub struct DeadRecord<'a> {
    /// Project, when the record could be read that far.
    pub project_id: Option<Uuid>,
    /// Why it failed.
    pub error: &'a str,
    /// The raw record value.
    pub payload: &'a [u8],
}

/// One event of a record that a handler refused.
#[derive(Debug, Clone)]
pub struct DeadEvent<'a> {
    /// Its project.
    pub project_id: Uuid,
    /// Its id.
    pub event_id: Uuid,
    /// Its position in the record.
    pub event_index: i32,
    /// The handler that refused it.
    pub handler: &'a str,
    /// Why.
    pub error: &'a str,
    /// The encoded `boost.common.v1.Event`, for inspection and replay.
    pub payload: &'a [u8],
}

/// Stores a whole-record dead letter; storing the same record twice is a no-op.
pub async fn insert_record(
    client: &impl GenericClient,
    at: Position<'_>,
    letter: &DeadRecord<'_>,
) -> Result<(), StorageError> {
    client
        .execute(
            "INSERT INTO dead_letters (topic, partition, \"offset\", project_id, error, payload)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (topic, partition, \"offset\", event_index) DO NOTHING",
            &[
                &at.topic,
                &at.partition,
                &at.offset,
                &letter.project_id,
                &letter.error,
                &letter.payload,
            ],
        )
        .await
        .map_err(|e| StorageError::query("insert dead record", e))?;
    Ok(())
}

/// Stores a failed event. The same event failing again from another record
/// (a replay) counts one more attempt and is `failed` again; the same record
/// read twice (a crash replay) changes nothing.
pub async fn insert_event(
    client: &impl GenericClient,
    at: Position<'_>,
    letter: &DeadEvent<'_>,
) -> Result<(), StorageError> {
    client
        .execute(
            "INSERT INTO dead_letters AS d (topic, partition, \"offset\", event_index, project_id,
                                           event_id, handler, error, payload)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (project_id, event_id) WHERE event_id IS NOT NULL DO UPDATE SET
                 attempts = d.attempts + CASE
                     WHEN (d.topic, d.partition, d.\"offset\") = (EXCLUDED.topic, EXCLUDED.partition, EXCLUDED.\"offset\")
                     THEN 0 ELSE 1 END,
                 topic = EXCLUDED.topic, partition = EXCLUDED.partition,
                 \"offset\" = EXCLUDED.\"offset\", event_index = EXCLUDED.event_index,
                 handler = EXCLUDED.handler, error = EXCLUDED.error, payload = EXCLUDED.payload,
                 status = 'failed', updated_at = now()",
            &[
                &at.topic,
                &at.partition,
                &at.offset,
                &letter.event_index,
                &letter.project_id,
                &letter.event_id,
                &letter.handler,
                &letter.error,
                &letter.payload,
            ],
        )
        .await
        .map_err(|e| StorageError::query("insert dead event", e))?;
    Ok(())
}

/// A dead-lettered event as GetEvent shows it.
#[derive(Debug, Clone)]
pub struct FailedEvent {
    /// The encoded `boost.common.v1.Event`.
    pub payload: Vec<u8>,
    /// Why the handler refused it.
    pub error: String,
    /// Tries so far.
    pub attempts: i32,
    /// When the record reached the processor last.
    pub updated_at: std::time::SystemTime,
}

/// The dead letter of one event, if it failed (and was not replayed since).
pub async fn failed_event(
    client: &impl GenericClient,
    project_id: Uuid,
    event_id: Uuid,
) -> Result<Option<FailedEvent>, StorageError> {
    let row = client
        .query_opt(
            "SELECT payload, error, attempts, updated_at FROM dead_letters
             WHERE project_id = $1 AND event_id = $2 AND status = 'failed'",
            &[&project_id, &event_id],
        )
        .await
        .map_err(|e| StorageError::query("get dead letter", e))?;
    Ok(row.map(|row| FailedEvent {
        payload: row.get(0),
        error: row.get(1),
        attempts: row.get(2),
        updated_at: row.get(3),
    }))
}

/// A refused event's letter as the dead-letter RPCs show it.
#[derive(Debug, Clone)]
pub struct EventLetter {
    /// Row id.
    pub id: i64,
    /// The event's id.
    pub event_id: Uuid,
    /// Refusing handler.
    pub handler: String,
    /// Why.
    pub error: String,
    /// Tries so far.
    pub attempts: i32,
    /// `failed` or `replayed`.
    pub status: String,
    /// First failure.
    pub created_at: std::time::SystemTime,
    /// Last change.
    pub updated_at: std::time::SystemTime,
    /// Kafka partition of the record.
    pub partition: i32,
    /// Kafka offset of the record.
    pub offset: i64,
    /// The encoded event.
    pub payload: Vec<u8>,
}

const LETTER_COLUMNS: &str = "id, event_id, handler, error, attempts, status, created_at, \
                              updated_at, partition, \"offset\", payload";

fn letter(row: &tokio_postgres::Row) -> EventLetter {
    EventLetter {
        id: row.get(0),
        event_id: row.get(1),
        handler: row.get::<_, Option<String>>(2).unwrap_or_default(),
        error: row.get(3),
        attempts: row.get(4),
        status: row.get(5),
        created_at: row.get(6),
        updated_at: row.get(7),
        partition: row.get(8),
        offset: row.get(9),
        payload: row.get(10),
    }
}

/// Event letters of `$1`'s project matching `rest` (more conditions, order,
/// limit), with `params` after the project: the one SELECT the listing,
/// inspecting and replaying share.
async fn select_letters(
    client: &impl GenericClient,
    what: &'static str,
    rest: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<EventLetter>, StorageError> {
    let rows = client
        .query(
            &format!(
                "SELECT {LETTER_COLUMNS} FROM dead_letters
                 WHERE project_id = $1 AND event_id IS NOT NULL {rest}"
            ),
            params,
        )
        .await
        .map_err(|e| StorageError::query(what, e))?;
    Ok(rows.iter().map(letter).collect())
}

/// A project's event letters, newest first, with `id < before`; `status`
/// narrows to `failed` or `replayed`.
pub async fn list_events(
    client: &impl GenericClient,
    project_id: Uuid,
    status: Option<&str>,
    before: i64,
    limit: i64,
) -> Result<Vec<EventLetter>, StorageError> {
    select_letters(
        client,
        "list dead letters",
        "AND id < $2 AND ($3::text IS NULL OR status = $3) ORDER BY id DESC LIMIT $4",
        &[&project_id, &before, &status, &limit],
    )
    .await
}

/// Letters of a project by id (ids of other projects are not found).
pub async fn get_events(
    client: &impl GenericClient,
    project_id: Uuid,
    ids: &[i64],
) -> Result<Vec<EventLetter>, StorageError> {
    select_letters(
        client,
        "get dead letters",
        "AND id = ANY($2) ORDER BY id",
        &[&project_id, &ids],
    )
    .await
}

/// Up to `limit` of a project's `failed` letters, oldest first, locked for a replay.
pub async fn lock_failed(
    client: &impl GenericClient,
    project_id: Uuid,
    ids: &[i64],
    limit: i64,
) -> Result<Vec<EventLetter>, StorageError> {
    select_letters(
        client,
        "lock dead letters",
        "AND status = 'failed' AND (cardinality($2::int8[]) = 0 OR id = ANY($2))
         ORDER BY id LIMIT $3 FOR UPDATE",
        &[&project_id, &ids, &limit],
    )
    .await
}

/// Marks letters `replayed`.
pub async fn mark_replayed(client: &impl GenericClient, ids: &[i64]) -> Result<(), StorageError> {
    client
        .execute(
            "UPDATE dead_letters SET status = 'replayed', updated_at = now() WHERE id = ANY($1)",
            &[&ids],
        )
        .await
        .map_err(|e| StorageError::query("mark dead letters replayed", e))?;
    Ok(())
}

/// Deletes a project's event letters: the given ids, or with none, those of
/// `status` (all when `None`). Returns how many went.
pub async fn purge_events(
    client: &impl GenericClient,
    project_id: Uuid,
    ids: &[i64],
    status: Option<&str>,
) -> Result<u64, StorageError> {
    client
        .execute(
            "DELETE FROM dead_letters
             WHERE project_id = $1 AND event_id IS NOT NULL
               AND (CASE WHEN cardinality($2::int8[]) > 0 THEN id = ANY($2)
                         ELSE ($3::text IS NULL OR status = $3) END)",
            &[&project_id, &ids, &status],
        )
        .await
        .map_err(|e| StorageError::query("purge dead letters", e))
}
