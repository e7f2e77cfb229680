//! The dead-letter RPCs' logic: list, inspect, replay (re-produce to the
//! events topic) and purge a project's refused events; replays and purges
//! are audited in the same transaction. It takes and returns domain types;
//! [`crate::grpc`] converts the protobuf messages at the boundary.

use std::time::{Duration, SystemTime};

use boost_kafka::Producer;
use boost_proto::{
    common::v1::{Event, EventBatchRecord},
    prost::Message,
    prost_types::Timestamp,
};
use boost_server::{ApiError, auth::Principal, paging::Pager};
use boost_storage::{
    Pool, StorageError,
    audit::{self, AuditEntry},
    dead_letters::{self, EventLetter},
};

/// Most letters one replay or purge names, and one page holds.
pub const MAX_LETTERS: usize = 1000;
/// Page size when the caller sends none.
const DEFAULT_PAGE: usize = 100;
/// Wait for the broker's acknowledgement of a replay.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Dead-letter operations over the database and a producer.
#[derive(Clone)]
pub struct DeadLetters {
    /// Database connections.
    pool: Pool,
    /// Sends replayed events to the events topic.
    producer: Producer,
}

/// Where a letter stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LetterStatus {
    /// Refused by its handler (again, after a replay).
    Failed,
    /// Sent to the events topic again.
    Replayed,
}

impl LetterStatus {
    /// The storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            LetterStatus::Failed => "failed",
            LetterStatus::Replayed => "replayed",
        }
    }
}

/// One page request of a project's letters.
#[derive(Debug, Clone, Default)]
pub struct LetterPage {
    /// Only letters with this status; `None` for any.
    pub status: Option<LetterStatus>,
    /// Requested size; 0 for the default.
    pub page_size: i32,
    /// The previous page's token; empty for the first.
    pub page_token: String,
}

/// The letters a replay or purge names: ids (at most [`MAX_LETTERS`]) and,
/// for a purge, optionally every letter of a status.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Letter ids; empty means "by status" (purge) or "the oldest" (replay).
    pub ids: Vec<i64>,
    /// Every letter of this status (purge only).
    pub status: Option<LetterStatus>,
}

impl Selection {
    /// Checks the id count, naming the field.
    pub fn new(ids: Vec<i64>, status: Option<LetterStatus>) -> Result<Self, ApiError> {
        if ids.len() > MAX_LETTERS {
            return Err(ApiError::bad_field(
                "ids",
                format!("at most {MAX_LETTERS} ids per call"),
            ));
        }
        Ok(Self { ids, status })
    }
}

impl DeadLetters {
    /// Operations over `pool` and `producer`.
    pub fn new(pool: Pool, producer: Producer) -> Self {
        Self { pool, producer }
    }

    /// A page of the caller's letters, newest first, and the next page's
    /// token (empty on the last).
    pub async fn list(
        &self,
        principal: &Principal,
        request: &LetterPage,
    ) -> Result<(Vec<EventLetter>, String), ApiError> {
        let status = request.status.map(LetterStatus::as_str);
        let pager = Pager::new(
            "dead-letters",
            &[
                principal.project_id.as_bytes(),
                status.unwrap_or_default().as_bytes(),
            ],
            request.page_size,
            DEFAULT_PAGE,
            MAX_LETTERS,
        )?;
        let before = match pager.after(&request.page_token)? {
            Some(cursor) => cursor
                .parse()
                .map_err(|_| ApiError::bad_field("page_token", "not a page token"))?,
            None => i64::MAX,
        };
        let client = self.pool.get().await.map_err(StorageError::from)?;
        let mut letters = dead_letters::list_events(
            &client,
            principal.project_id,
            status,
            before,
            pager.fetch() as i64,
        )
        .await?;
        let next_page_token = pager.finish(&mut letters, |l| l.id.to_string());
        Ok((letters, next_page_token))
    }

    /// One letter (its payload is the event as sent).
    pub async fn get(&self, principal: &Principal, id: i64) -> Result<EventLetter, ApiError> {
        let client = self.pool.get().await.map_err(StorageError::from)?;
        dead_letters::get_events(&client, principal.project_id, &[id])
            .await?
            .pop()
            .ok_or_else(|| ApiError::not_found("dead letter not found"))
    }

    /// Re-produces failed events and marks them replayed, audited. The rows
    /// stay locked until the broker acknowledged, so two replays of the same
    /// letters cannot both send them; a failed produce changes nothing.
    pub async fn replay(
        &self,
        principal: &Principal,
        request: &Selection,
    ) -> Result<i64, ApiError> {
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| StorageError::query("begin", e))?;
        let letters =
            dead_letters::lock_failed(&tx, principal.project_id, &request.ids, MAX_LETTERS as i64)
                .await?;
        if letters.is_empty() {
            return Ok(0);
        }
        let events: Vec<Event> = letters
            .iter()
            .filter_map(|l| Event::decode(l.payload.as_slice()).ok())
            .collect();
        let batch = EventBatchRecord {
            project_id: principal.project_id.to_string(),
            events,
            receive_time: Some(Timestamp::from(SystemTime::now())),
        };
        let partition = self
            .producer
            .partition_for(format!("{}/replay", principal.project_id).as_bytes());
        self.producer
            .send_to(partition, batch, ACK_TIMEOUT)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "replay not acknowledged by the broker");
                ApiError::unavailable(
                    "event broker unavailable, retry later",
                    boost_server::error::RETRY_DELAY,
                )
            })?;
        let ids: Vec<i64> = letters.iter().map(|l| l.id).collect();
        dead_letters::mark_replayed(&tx, &ids).await?;
        audit::append(
            &tx,
            &AuditEntry {
                actor: &principal.actor(),
                action: "dead_letters.replay",
                project_id: Some(principal.project_id),
                target_id: None,
                details: serde_json::json!({ "ids": ids }),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(|e| StorageError::query("commit", e))?;
        Ok(ids.len() as i64)
    }

    /// Deletes letters, audited.
    pub async fn purge(&self, principal: &Principal, request: &Selection) -> Result<i64, ApiError> {
        let status = request.status.map(LetterStatus::as_str);
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| StorageError::query("begin", e))?;
        let purged =
            dead_letters::purge_events(&tx, principal.project_id, &request.ids, status).await?;
        audit::append(
            &tx,
            &AuditEntry {
                actor: &principal.actor(),
                action: "dead_letters.purge",
                project_id: Some(principal.project_id),
                target_id: None,
                details: serde_json::json!({ "ids": request.ids, "status": status, "purged": purged }),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(|e| StorageError::query("commit", e))?;
        Ok(purged as i64)
    }
}
