//! Turns fetched records into rows through the handler registry and writes
//! them, with the partition's next offset, in one transaction.

use std::time::SystemTime;

use boost_kafka::{record, rskafka::record::RecordAndOffset};
use boost_proto::{common::v1::EventBatchRecord, prost::Message};
use boost_storage::{
    Pool, StorageError,
    dead_letters::{self, DeadEvent, DeadRecord, Position},
    events::{self, StoredEvent},
    leases::{self, Lease},
    offsets::{self, LogKey},
    partitions::DayPartitions,
};
use uuid::Uuid;

use crate::handlers::{Incoming, Registry};

/// A record that could not be decoded.
#[derive(Debug)]
pub struct UnreadableRecord {
    /// Its offset.
    pub offset: i64,
    /// Its project, when readable.
    pub project_id: Option<Uuid>,
    /// Why.
    pub error: String,
    /// The raw value.
    pub payload: Vec<u8>,
}

/// An event a handler refused.
#[derive(Debug)]
pub struct RefusedEvent {
    /// Offset of its record.
    pub offset: i64,
    /// Position in the record.
    pub index: i32,
    /// Its project.
    pub project_id: Uuid,
    /// Its id.
    pub event_id: Uuid,
    /// The refusing handler.
    pub handler: &'static str,
    /// Why.
    pub error: String,
    /// The encoded event.
    pub payload: Vec<u8>,
}

/// What one fetched batch becomes.
#[derive(Debug, Default)]
pub struct Batch {
    /// Rows to insert.
    pub events: Vec<StoredEvent>,
    /// Records that could not be decoded.
    pub unreadable: Vec<UnreadableRecord>,
    /// Events a handler refused.
    pub refused: Vec<RefusedEvent>,
    /// Ingest receive time of each decoded record (freshness).
    pub received: Vec<SystemTime>,
    /// SHA-256 of the last record's value, stored beside the offset.
    pub last_record_sha256: [u8; 32],
}

/// Decodes records and hands each event to its handler; anything that cannot
/// be stored becomes a dead letter instead of stopping the partition.
pub fn decode(records: &[RecordAndOffset], registry: &Registry) -> Batch {
    let _span = tracing::info_span!("handle", records = records.len()).entered();
    let mut batch = Batch::default();
    if let Some(last) = records.last() {
        batch.last_record_sha256 = record::digest(&last.record);
    }
    for item in records {
        let payload = || item.record.value.clone().unwrap_or_default();
        let decoded = match record::decode(&item.record) {
            Ok(decoded) => decoded,
            Err(err) => {
                batch.unreadable.push(UnreadableRecord {
                    offset: item.offset,
                    project_id: None,
                    error: err.to_string(),
                    payload: payload(),
                });
                continue;
            }
        };
        let Ok(project_id) = decoded.project_id.parse::<Uuid>() else {
            batch.unreadable.push(UnreadableRecord {
                offset: item.offset,
                project_id: None,
                error: format!("project_id {:?} is not a UUID", decoded.project_id),
                payload: payload(),
            });
            continue;
        };
        handle_record(item.offset, project_id, &decoded, registry, &mut batch);
    }
    batch
}

fn handle_record(
    offset: i64,
    project_id: Uuid,
    record: &EventBatchRecord,
    registry: &Registry,
    batch: &mut Batch,
) {
    let received_at = record
        .receive_time
        .and_then(|t| SystemTime::try_from(t).ok())
        .unwrap_or_else(SystemTime::now);
    batch.received.push(received_at);
    for (index, event) in record.events.iter().enumerate() {
        let handler = registry.handler_for(event.kind);
        let incoming = Incoming {
            project_id,
            received_at,
            event,
        };
        match handler.handle(incoming) {
            Ok(row) => batch.events.push(row),
            Err(error) => batch.refused.push(RefusedEvent {
                offset,
                index: index as i32,
                project_id,
                // An id that is not a UUID is keyed by a fresh one; the payload keeps the original.
                event_id: event.event_id.parse().unwrap_or_else(|_| Uuid::now_v7()),
                handler: handler.name(),
                error,
                payload: event.encode_to_vec(),
            }),
        }
    }
}

/// What became of a batch's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// Committed; this many events were new.
    Stored(u64),
    /// Nothing written: another instance claimed the partition's lease.
    Fenced,
}

/// Writes a batch (rows, end users, rollups, dead letters) and the
/// partition's next offset atomically, after making sure the events' day
/// partitions exist; under `lease`, only while it is current (checked and
/// locked in the same transaction). Traced as `store`, one span per attempt.
#[tracing::instrument(name = "store", skip_all, fields(db.system = "postgresql", events = batch.events.len()))]
pub async fn write(
    pool: &Pool,
    days: &DayPartitions,
    log: &LogKey<'_>,
    lease: Option<Lease>,
    partition: i32,
    next_offset: i64,
    batch: &Batch,
) -> Result<Commit, StorageError> {
    let topic = log.topic;
    let mut client = pool.get().await?;
    let written = async {
        // Before the transaction: creating a partition locks the parent table.
        days.ensure(&client, batch.events.iter().map(|e| e.occurred_at))
            .await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| StorageError::query("begin", e))?;
        if let Some(lease) = lease
            && !leases::check_fence(&tx, log, lease).await?
        {
            return Ok(Commit::Fenced);
        }
        let inserted = events::insert_batch(&tx, partition, &batch.events).await?;
        let at = |offset| Position {
            topic,
            partition,
            offset,
        };
        for dead in &batch.unreadable {
            let letter = DeadRecord {
                project_id: dead.project_id,
                error: &dead.error,
                payload: &dead.payload,
            };
            dead_letters::insert_record(&tx, at(dead.offset), &letter).await?;
        }
        for refused in &batch.refused {
            let letter = DeadEvent {
                project_id: refused.project_id,
                event_id: refused.event_id,
                event_index: refused.index,
                handler: refused.handler,
                error: &refused.error,
                payload: &refused.payload,
            };
            dead_letters::insert_event(&tx, at(refused.offset), &letter).await?;
        }
        offsets::save(&tx, log, partition, next_offset, &batch.last_record_sha256).await?;
        tx.commit()
            .await
            .map_err(|e| StorageError::query("commit", e))?;
        Ok(Commit::Stored(inserted))
    }
    .await;
    if written.is_err() {
        // Retention may have dropped a day this process believed in.
        days.forget();
    }
    written
}
