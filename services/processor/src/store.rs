//! Turns fetched records into rows and writes them, with the partition's next
//! offset, in one transaction.

use std::time::SystemTime;

use boost_kafka::{record, rskafka::record::RecordAndOffset};
use boost_proto::{
    common::v1::{Event, event::Body},
    json::struct_to_json,
};
use boost_storage::{
    Pool, StorageError,
    dead_letters::{self, DeadLetter},
    events::{self, StoredEvent, Telemetry},
    offsets,
};
use uuid::Uuid;

/// What one fetched batch becomes.
#[derive(Debug, Default)]
pub struct Batch {
    /// Events to insert.
    pub events: Vec<StoredEvent>,
    /// Records that could not be read, with their offset and reason.
    pub dead: Vec<(i64, Option<Uuid>, String, Vec<u8>)>,
}

/// Decodes records; anything unreadable becomes a dead letter instead of
/// stopping the partition.
pub fn decode(records: &[RecordAndOffset]) -> Batch {
    let mut batch = Batch::default();
    for item in records {
        let payload = || item.record.value.clone().unwrap_or_default();
        match record::decode(&item.record) {
            Err(err) => batch
                .dead
                .push((item.offset, None, err.to_string(), payload())),
            Ok(decoded) => match to_rows(&decoded) {
                Ok(rows) => batch.events.extend(rows),
                Err(reason) => {
                    let project = decoded.project_id.parse().ok();
                    batch.dead.push((item.offset, project, reason, payload()));
                }
            },
        }
    }
    batch
}

fn to_rows(record: &boost_proto::common::v1::EventBatchRecord) -> Result<Vec<StoredEvent>, String> {
    let project_id: Uuid = record
        .project_id
        .parse()
        .map_err(|_| format!("project_id {:?} is not a UUID", record.project_id))?;
    let received_at = record
        .receive_time
        .and_then(|t| SystemTime::try_from(t).ok())
        .unwrap_or_else(SystemTime::now);
    record
        .events
        .iter()
        .map(|event| to_row(project_id, received_at, event))
        .collect()
}

fn to_row(project_id: Uuid, received_at: SystemTime, event: &Event) -> Result<StoredEvent, String> {
    let event_id = event
        .event_id
        .parse()
        .map_err(|_| format!("event_id {:?} is not a UUID", event.event_id))?;
    let occurred_at = event
        .timestamp
        .and_then(|t| SystemTime::try_from(t).ok())
        .unwrap_or(received_at);
    Ok(StoredEvent {
        project_id,
        event_id,
        kind: i16::try_from(event.kind).map_err(|_| format!("kind {} out of range", event.kind))?,
        event_type: event.r#type.clone(),
        occurred_at,
        received_at,
        service: event.service.clone(),
        user_id: event.user_id.clone(),
        properties: event
            .properties
            .as_ref()
            .map(struct_to_json)
            .unwrap_or_else(|| serde_json::json!({})),
        telemetry: event.body.as_ref().map(telemetry).transpose()?,
    })
}

/// The storage form of a telemetry body (ingest validated its values).
fn telemetry(body: &Body) -> Result<Telemetry, String> {
    Ok(match body {
        Body::Log(log) => Telemetry::Log {
            severity: i16::try_from(log.severity)
                .map_err(|_| format!("severity {} out of range", log.severity))?,
            message: log.message.clone(),
        },
        Body::Metric(metric) => Telemetry::Metric {
            name: metric.name.clone(),
            value: metric.value,
            unit: metric.unit.clone(),
        },
        Body::Span(span) => {
            let duration = span
                .duration
                .and_then(|d| std::time::Duration::try_from(d).ok())
                .ok_or("span duration missing or negative")?;
            Telemetry::Span {
                trace_id: span.trace_id.clone(),
                span_id: span.span_id.clone(),
                parent_span_id: (!span.parent_span_id.is_empty())
                    .then(|| span.parent_span_id.clone()),
                duration_us: i64::try_from(duration.as_micros())
                    .map_err(|_| "span duration out of range")?,
                error: span.error,
            }
        }
    })
}

/// Writes a batch and the partition's next offset atomically. Returns how
/// many events were new (the rest were duplicates).
pub async fn write(
    pool: &Pool,
    topic: &str,
    partition: i32,
    next_offset: i64,
    batch: &Batch,
) -> Result<u64, StorageError> {
    let mut client = pool.get().await?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| StorageError::query("begin", e))?;
    let inserted = events::insert_batch(&tx, &batch.events).await?;
    for (offset, project_id, error, payload) in &batch.dead {
        dead_letters::insert(
            &tx,
            &DeadLetter {
                topic,
                partition,
                offset: *offset,
                project_id: *project_id,
                error,
                payload,
            },
        )
        .await?;
    }
    offsets::save(&tx, topic, partition, next_offset).await?;
    tx.commit()
        .await
        .map_err(|e| StorageError::query("commit", e))?;
    Ok(inserted)
}
