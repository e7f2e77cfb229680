//! Ingest domain logic: validate, wrap into the Kafka record, wait for the
//! broker's acknowledgement.

use std::time::{Duration, SystemTime};

use boost_kafka::{ProduceError, Producer, record};
use boost_proto::{
    common::v1::{Event, EventBatchRecord, EventKind},
    ingest::v1::{EventResult, EventStatus},
    prost_types::Timestamp,
};
use boost_server::{ApiError, ErrorCode, auth::Principal};
use tonic_types::ErrorDetails;

use crate::validate::{FieldError, Limits, validate_event};

/// How long callers are told to wait before retrying after a broker problem.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Why an ingest call failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The event is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The broker did not acknowledge.
    #[error(transparent)]
    Produce(#[from] ProduceError),
}

impl From<IngestError> for ApiError {
    fn from(err: IngestError) -> Self {
        match err {
            IngestError::Invalid(e) => ApiError::bad_field(e.field, e.reason),
            IngestError::Produce(ProduceError::BufferFull) => {
                let mut details = ErrorDetails::with_retry_info(Some(RETRY_AFTER));
                details.add_quota_failure_violation(
                    "producer_buffer",
                    "ingest producer buffer is full",
                );
                ApiError {
                    code: ErrorCode::TooManyRequests,
                    message: "ingest buffer full, retry later".into(),
                    details: Box::new(details),
                }
            }
            IngestError::Produce(e) => {
                tracing::warn!(error = %e, "event not acknowledged by the broker");
                ApiError::unavailable("event broker unavailable, retry later", RETRY_AFTER)
            }
        }
    }
}

/// Ingest operations over a producer.
#[derive(Clone)]
pub struct IngestLogic {
    /// Sends records to the events topic.
    producer: Producer,
    /// Published event limits.
    limits: Limits,
    /// Longest wait for an acknowledgement.
    ack_timeout: Duration,
}

impl IngestLogic {
    /// Logic over `producer`.
    pub fn new(producer: Producer, limits: Limits, ack_timeout: Duration) -> Self {
        Self {
            producer,
            limits,
            ack_timeout,
        }
    }

    /// Validates one product event and answers once the broker acknowledged it.
    pub async fn track(
        &self,
        principal: &Principal,
        event: Option<Event>,
    ) -> Result<EventResult, IngestError> {
        let now = SystemTime::now();
        let event = event.ok_or_else(|| FieldError {
            field: "event".into(),
            reason: "is required".into(),
        })?;
        let event = validate_event(event, EventKind::Track, &self.limits, now, "event")?;
        let event_id = event.event_id.clone();
        // One user's events share a partition, which keeps them in order.
        let partition_key = format!("{}/{}", principal.project_id, routing_key(&event));
        let batch = EventBatchRecord {
            project_id: principal.project_id.to_string(),
            events: vec![event],
            receive_time: Some(Timestamp::from(now)),
        };
        self.producer
            .send(
                partition_key.as_bytes(),
                record::encode(&batch),
                self.ack_timeout,
            )
            .await?;
        Ok(EventResult {
            event_id,
            status: EventStatus::Accepted as i32,
            ..Default::default()
        })
    }
}

/// The user when known, else the event itself.
fn routing_key(event: &Event) -> &str {
    if event.user_id.is_empty() {
        &event.event_id
    } else {
        &event.user_id
    }
}
