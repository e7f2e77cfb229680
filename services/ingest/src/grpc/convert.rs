//! The boundary's conversions: protobuf requests into the checked domain
//! types of [`crate::model`] (each violation names its field), and domain
//! answers back into protobuf messages.

use boost_proto::ingest::v1::{
    AckLevel, EventResult, EventStatus, GetLimitsResponse, IdentifyRequest, IngestBatchRequest,
    IngestBatchResponse, IngestStreamResponse, StreamError, TrackRequest,
};

use crate::{
    model::{Ack, Batch, BatchOutcome, EventOutcome, LimitsView, OneEvent, StreamSummary, Verdict},
    validate::FieldError,
};

/// A request's `ack` field: unset means BROKER.
fn ack(value: i32) -> Result<Ack, FieldError> {
    match AckLevel::try_from(value) {
        Ok(AckLevel::Unspecified | AckLevel::Broker) => Ok(Ack::Broker),
        Ok(AckLevel::Committed) => Ok(Ack::Committed),
        Err(_) => Err(FieldError {
            field: "ack".into(),
            reason: "must be ACK_LEVEL_BROKER or ACK_LEVEL_COMMITTED".into(),
        }),
    }
}

/// A single-event request's parts, checked.
fn one_event(
    event: Option<boost_proto::common::v1::Event>,
    ack_level: i32,
) -> Result<OneEvent, FieldError> {
    let ack = ack(ack_level)?;
    let event = event.ok_or_else(|| FieldError {
        field: "event".into(),
        reason: "is required".into(),
    })?;
    Ok(OneEvent { event, ack })
}

impl TryFrom<TrackRequest> for OneEvent {
    type Error = FieldError;

    fn try_from(request: TrackRequest) -> Result<Self, FieldError> {
        one_event(request.event, request.ack)
    }
}

impl TryFrom<IdentifyRequest> for OneEvent {
    type Error = FieldError;

    fn try_from(request: IdentifyRequest) -> Result<Self, FieldError> {
        one_event(request.event, request.ack)
    }
}

impl TryFrom<IngestBatchRequest> for Batch {
    type Error = FieldError;

    fn try_from(request: IngestBatchRequest) -> Result<Self, FieldError> {
        Ok(Batch {
            ack: ack(request.ack)?,
            events: request.events,
        })
    }
}

/// The wire form of one event's outcome.
pub fn event_result(outcome: EventOutcome) -> EventResult {
    let base = EventResult {
        event_id: outcome.event_id,
        index: outcome.index,
        ..Default::default()
    };
    match outcome.verdict {
        Verdict::Accepted { stored } => EventResult {
            status: EventStatus::Accepted as i32,
            stored,
            ..base
        },
        Verdict::Duplicate => EventResult {
            status: EventStatus::Duplicate as i32,
            ..base
        },
        Verdict::Rejected(rejection) => EventResult {
            status: EventStatus::Rejected as i32,
            field: rejection.field,
            reason: rejection.reason,
            retryable: rejection.retryable,
            ..base
        },
    }
}

/// The wire form of a batch's outcome, with its counts.
pub fn batch_response(outcome: BatchOutcome) -> IngestBatchResponse {
    IngestBatchResponse {
        accepted: outcome.accepted() as u32,
        duplicates: outcome.duplicates() as u32,
        rejected: outcome.rejected() as u32,
        results: outcome.results.into_iter().map(event_result).collect(),
    }
}

/// The wire form of a stream's summary.
pub fn stream_response(summary: StreamSummary) -> IngestStreamResponse {
    IngestStreamResponse {
        messages: summary.messages,
        accepted: summary.accepted,
        duplicates: summary.duplicates,
        rejected: summary.rejected,
        rejected_results: summary.rejections.into_iter().map(event_result).collect(),
        error: summary
            .stopped
            .map(|(message_index, unreadable)| StreamError {
                code: unreadable.code,
                message: unreadable.message,
                message_index,
            }),
    }
}

/// The wire form of the published limits.
pub fn limits_response(view: LimitsView) -> GetLimitsResponse {
    let (events, rate) = (view.events, view.rate);
    GetLimitsResponse {
        max_event_bytes: events.max_event_bytes as u32,
        max_batch_events: events.max_batch_events as u32,
        max_property_depth: events.max_property_depth as u32,
        max_properties: events.max_properties as u32,
        max_future_skew_ms: events.max_future_skew.as_millis() as u64,
        max_event_age_ms: events.max_event_age.as_millis() as u64,
        rate_limit_events: rate.project,
        rate_limit_key_events: rate.key,
        rate_limit_user_events: rate.user,
        rate_limit_address_events: rate.address,
        rate_limit_window_ms: rate.window.as_millis() as u64,
        rate_limit_remaining: view.usage.map_or(0, |u| u.remaining),
        rate_limit_reset_seconds: view.usage.map_or(0, |u| u.reset_secs),
    }
}
