//! Ingest domain logic: validate, drop duplicates early, pack events into
//! Kafka records per partition, answer per event once the broker has them.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    net::IpAddr,
    time::{Duration, SystemTime},
};

use boost_kafka::{ProduceError, Producer, producer::MAX_RECORD_BYTES};
use boost_proto::{
    common::v1::{Event, EventBatchRecord},
    ingest::v1::{
        AckLevel, EventResult, EventStatus, GetLimitsResponse, IngestBatchResponse,
        IngestStreamResponse, StreamError,
    },
    prost::Message,
    prost_types::Timestamp,
};
use boost_server::{ApiError, ErrorCode, auth::Principal, error::RETRY_DELAY};
use futures::{Stream, StreamExt};
use tonic_types::ErrorDetails;

use crate::{
    commit_wait::StoredWatermarks,
    dedup::Dedup,
    rate_limit::{Decision, RateLimiter, Subject},
    validate::{ANY_KIND, FieldError, IDENTIFY, KindRule, Limits, TRACK, validate_event},
};

/// Why an ingest call (or one event of it) failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    /// The request (or its single event) is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The broker did not acknowledge anything.
    #[error(transparent)]
    Produce(#[from] ProduceError),
    /// A rate limit (of the named subject kind) is exhausted.
    #[error("{subject} rate limit exceeded, retry in {} s", .decision.reset_secs)]
    RateLimited {
        /// The refusing limit's numbers.
        decision: Decision,
        /// Which limit: project, api_key, user or client_address.
        subject: &'static str,
    },
}

impl IngestError {
    /// How an event refused for this reason is reported inside a batch or
    /// stream answer: (field, reason, retryable).
    fn as_rejection(&self) -> (String, String, bool) {
        match self {
            IngestError::Invalid(e) => (e.field.clone(), e.reason.clone(), false),
            IngestError::Produce(ProduceError::BufferFull) => (
                String::new(),
                "ingest buffer full, retry later".into(),
                true,
            ),
            IngestError::Produce(_) => (
                String::new(),
                "broker did not acknowledge, retry later".into(),
                true,
            ),
            IngestError::RateLimited { .. } => (String::new(), self.to_string(), true),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(err: IngestError) -> Self {
        match err {
            IngestError::Invalid(e) => ApiError::bad_field(e.field, e.reason),
            IngestError::Produce(ProduceError::BufferFull) => {
                let mut details = ErrorDetails::with_retry_info(Some(RETRY_DELAY));
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
                tracing::warn!(error = %e, "events not acknowledged by the broker");
                ApiError::unavailable("event broker unavailable, retry later", RETRY_DELAY)
            }
            IngestError::RateLimited { decision, subject } => {
                let mut details =
                    ErrorDetails::with_retry_info(Some(Duration::from_secs(decision.reset_secs)));
                details.add_quota_failure_violation(
                    subject,
                    format!(
                        "at most {} events per window; {} left",
                        decision.limit, decision.remaining
                    ),
                );
                ApiError {
                    code: ErrorCode::TooManyRequests,
                    message: err.to_string(),
                    details: Box::new(details),
                }
            }
        }
    }
}

/// Most rejected events an IngestStream answer lists (the totals count all).
pub const MAX_STREAM_REJECTIONS: usize = 1000;

/// Running totals of one IngestStream.
#[derive(Debug, Default)]
struct StreamTotals {
    /// The answer being built.
    pub response: IngestStreamResponse,
    /// Events received so far; the index of the next one.
    pub received: u64,
}

impl StreamTotals {
    fn reject(&mut self, result: EventResult) {
        self.response.rejected += 1;
        if self.response.rejected_results.len() < MAX_STREAM_REJECTIONS {
            self.response.rejected_results.push(result);
        }
    }
}

/// Ingest operations over a producer and the dedup fast path.
#[derive(Clone)]
pub struct IngestLogic {
    /// Sends records to the events topic.
    producer: Producer,
    /// Remembers accepted event ids.
    dedup: Dedup,
    /// Per-project rate limits.
    limiter: std::sync::Arc<RateLimiter>,
    /// Published event limits.
    limits: Limits,
    /// Longest wait for an acknowledgement.
    ack_timeout: Duration,
    /// Stored watermarks and the longest COMMITTED wait.
    committed: Committed,
}

/// What a COMMITTED acknowledgement waits on.
#[derive(Clone)]
pub struct Committed {
    /// The processor's stored watermarks.
    pub watermarks: std::sync::Arc<StoredWatermarks>,
    /// Longest wait past the broker's acknowledgement.
    pub timeout: Duration,
}

/// Reads a request's `ack` field.
pub fn ack_level(value: i32) -> Result<AckLevel, FieldError> {
    match AckLevel::try_from(value) {
        Ok(AckLevel::Unspecified | AckLevel::Broker) => Ok(AckLevel::Broker),
        Ok(AckLevel::Committed) => Ok(AckLevel::Committed),
        Err(_) => Err(FieldError {
            field: "ack".into(),
            reason: "must be ACK_LEVEL_BROKER or ACK_LEVEL_COMMITTED".into(),
        }),
    }
}

fn result(index: u32, event_id: String, status: EventStatus) -> EventResult {
    EventResult {
        event_id,
        status: status as i32,
        index,
        ..Default::default()
    }
}

fn rejected(
    index: u32,
    event_id: String,
    field: String,
    reason: String,
    retryable: bool,
) -> EventResult {
    EventResult {
        event_id,
        status: EventStatus::Rejected as i32,
        field,
        reason,
        retryable,
        index,
        stored: false,
    }
}

impl IngestLogic {
    /// Logic over `producer` and `dedup`.
    pub fn new(
        producer: Producer,
        dedup: Dedup,
        limiter: RateLimiter,
        limits: Limits,
        ack_timeout: Duration,
        committed: Committed,
    ) -> Self {
        Self {
            producer,
            dedup,
            limiter: std::sync::Arc::new(limiter),
            limits,
            ack_timeout,
            committed,
        }
    }

    /// Counts `events` against the project's limit and, where configured,
    /// the API key's and the client address's: `Ok(decision)` to proceed,
    /// carrying the tightest limit for the `x-ratelimit-*` metadata;
    /// `RateLimited` naming the limit that refused.
    pub async fn admit(
        &self,
        principal: &Principal,
        address: Option<IpAddr>,
        events: usize,
    ) -> Result<Option<Decision>, IngestError> {
        let events = events as u64;
        let mut subjects = vec![(Subject::Project(principal.project_id), events)];
        if let Some(key) = principal.api_key_id {
            subjects.push((Subject::Key(key), events));
        }
        if let Some(address) = address {
            subjects.push((Subject::Address(address), events));
        }
        let decisions = self.limiter.check(subjects).await;
        if let Some((subject, decision)) = decisions.iter().find(|(_, d)| !d.allowed) {
            return Err(IngestError::RateLimited {
                decision: *decision,
                subject: subject.kind(),
            });
        }
        Ok(decisions
            .into_iter()
            .map(|(_, d)| d)
            .min_by_key(|d| d.remaining))
    }

    /// The published limits and the project's current rate-limit usage.
    pub async fn limits(&self, principal: &Principal) -> GetLimitsResponse {
        let rate = self.limiter.limits();
        let usage = self
            .limiter
            .usage(Subject::Project(principal.project_id))
            .await;
        GetLimitsResponse {
            max_event_bytes: self.limits.max_event_bytes as u32,
            max_batch_events: self.limits.max_batch_events as u32,
            max_property_depth: self.limits.max_property_depth as u32,
            max_properties: self.limits.max_properties as u32,
            max_future_skew_ms: self.limits.max_future_skew.as_millis() as u64,
            max_event_age_ms: self.limits.max_event_age.as_millis() as u64,
            rate_limit_events: rate.project,
            rate_limit_key_events: rate.key,
            rate_limit_user_events: rate.user,
            rate_limit_address_events: rate.address,
            rate_limit_window_ms: rate.window.as_millis() as u64,
            rate_limit_remaining: usage.map_or(0, |u| u.remaining),
            rate_limit_reset_seconds: usage.map_or(0, |u| u.reset_secs),
        }
    }

    /// One product event; an invalid event is INVALID_ARGUMENT.
    pub async fn track(
        &self,
        principal: &Principal,
        event: Option<Event>,
        ack: AckLevel,
    ) -> Result<EventResult, IngestError> {
        self.single(principal, event, TRACK, ack).await
    }

    /// One identify event (`user_id` required); an invalid event is INVALID_ARGUMENT.
    pub async fn identify(
        &self,
        principal: &Principal,
        event: Option<Event>,
        ack: AckLevel,
    ) -> Result<EventResult, IngestError> {
        self.single(principal, event, IDENTIFY, ack).await
    }

    async fn single(
        &self,
        principal: &Principal,
        event: Option<Event>,
        rule: KindRule,
        ack: AckLevel,
    ) -> Result<EventResult, IngestError> {
        let event = event.ok_or_else(|| FieldError {
            field: "event".into(),
            reason: "is required".into(),
        })?;
        let event = validate_event(event, rule, &self.limits, SystemTime::now(), "event")?;
        let mut results = self.submit(principal, vec![(0, event)], ack).await;
        let outcome = results.pop().expect("one result per event");
        match outcome {
            Submitted::Done(result) => Ok(result),
            Submitted::Failed { error, .. } => Err(error),
        }
    }

    /// Many events, answered per event. The whole call fails only when the
    /// request itself is invalid, or when no event could be written because
    /// the broker is down or the buffer full.
    pub async fn ingest_batch(
        &self,
        principal: &Principal,
        events: Vec<Event>,
        ack: AckLevel,
    ) -> Result<IngestBatchResponse, IngestError> {
        if events.is_empty() || events.len() > self.limits.max_batch_events {
            return Err(FieldError {
                field: "events".into(),
                reason: format!(
                    "must hold 1 to {} events, got {}",
                    self.limits.max_batch_events,
                    events.len()
                ),
            }
            .into());
        }
        let now = SystemTime::now();
        let mut results = Vec::with_capacity(events.len());
        let mut valid = Vec::with_capacity(events.len());
        for (i, event) in events.into_iter().enumerate() {
            let index = i as u32;
            let event_id = event.event_id.clone();
            match validate_event(event, ANY_KIND, &self.limits, now, &format!("events[{i}]")) {
                Ok(event) => valid.push((index, event)),
                Err(e) => results.push(rejected(index, event_id, e.field, e.reason, false)),
            }
        }
        let mut failures = Vec::new();
        for outcome in self.submit(principal, valid, ack).await {
            match outcome {
                Submitted::Done(result) => results.push(result),
                Submitted::Failed {
                    index,
                    event_id,
                    error,
                } => failures.push((index, event_id, error)),
            }
        }
        // Nothing written and nothing else to say: the whole call failed.
        if results.is_empty() && !failures.is_empty() {
            return Err(failures.swap_remove(0).2);
        }
        for (index, event_id, err) in failures {
            let (field, reason, retryable) = err.as_rejection();
            results.push(rejected(index, event_id, field, reason, retryable));
        }
        results.sort_by_key(|r| r.index);
        let count = |status: EventStatus| {
            results.iter().filter(|r| r.status == status as i32).count() as u32
        };
        Ok(IngestBatchResponse {
            accepted: count(EventStatus::Accepted),
            duplicates: count(EventStatus::Duplicate),
            rejected: count(EventStatus::Rejected),
            results,
        })
    }

    /// IngestStream: each message of `messages` is admitted and ingested
    /// like an IngestBatch at the broker level, and counted. A message that
    /// cannot be read ends the stream, but the answer still accounts for
    /// every event read before it (`messages`, `error`).
    pub async fn ingest_stream<S>(
        &self,
        principal: &Principal,
        address: Option<IpAddr>,
        mut messages: S,
    ) -> IngestStreamResponse
    where
        S: Stream<Item = Result<Vec<Event>, tonic::Status>> + Unpin,
    {
        let mut totals = StreamTotals::default();
        while let Some(message) = messages.next().await {
            match message {
                Ok(events) => {
                    self.ingest_stream_message(principal, address, events, &mut totals)
                        .await;
                    totals.response.messages += 1;
                }
                Err(status) => {
                    tracing::info!(code = ?status.code(), messages = totals.response.messages,
                        "ingest stream stopped on an unreadable message");
                    totals.response.error = Some(StreamError {
                        code: status.code() as i32,
                        message: status.message().to_string(),
                        message_index: totals.response.messages,
                    });
                    break;
                }
            }
        }
        totals.response
    }

    /// Takes one IngestStream message. Never fails the stream: a message
    /// refused as a whole (bad count, rate limit, broker down, buffer full)
    /// becomes rejected events, retryable where sending again may work.
    async fn ingest_stream_message(
        &self,
        principal: &Principal,
        address: Option<IpAddr>,
        events: Vec<Event>,
        totals: &mut StreamTotals,
    ) {
        let offset = totals.received as u32;
        totals.received += events.len() as u64;
        let ids: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
        let outcome = match self.admit(principal, address, events.len()).await {
            Ok(_) => self.ingest_batch(principal, events, AckLevel::Broker).await,
            Err(refused) => Err(refused),
        };
        match outcome {
            Ok(answer) => {
                totals.response.accepted += u64::from(answer.accepted);
                totals.response.duplicates += u64::from(answer.duplicates);
                for mut result in answer.results {
                    if result.status == EventStatus::Rejected as i32 {
                        result.index += offset;
                        totals.reject(result);
                    }
                }
            }
            Err(err) => {
                let (field, reason, retryable) = err.as_rejection();
                for (i, event_id) in ids.into_iter().enumerate() {
                    totals.reject(rejected(
                        offset + i as u32,
                        event_id,
                        field.clone(),
                        reason.clone(),
                        retryable,
                    ));
                }
            }
        }
    }

    /// Counts events against their end user's limit (when one is set) and
    /// keeps the events of users within it; the others fail as RateLimited.
    async fn admit_users(
        &self,
        project: uuid::Uuid,
        events: Vec<(u32, Event)>,
        outcomes: &mut Vec<Submitted>,
    ) -> Vec<(u32, Event)> {
        if self.limiter.limits().user == 0 {
            return events;
        }
        let mut per_user: HashMap<&str, u64> = HashMap::new();
        for (_, event) in &events {
            if !event.user_id.is_empty() {
                *per_user.entry(event.user_id.as_str()).or_default() += 1;
            }
        }
        let counts = per_user
            .into_iter()
            .map(|(user, n)| (Subject::User(project, user.to_string()), n))
            .collect();
        let refused: HashMap<String, Decision> = self
            .limiter
            .check(counts)
            .await
            .into_iter()
            .filter_map(|(subject, decision)| match subject {
                Subject::User(_, user) if !decision.allowed => Some((user, decision)),
                _ => None,
            })
            .collect();
        events
            .into_iter()
            .filter_map(|(index, event)| match refused.get(&event.user_id) {
                Some(decision) => {
                    let err = IngestError::RateLimited {
                        decision: *decision,
                        subject: "user",
                    };
                    outcomes.push(Submitted::Failed {
                        index,
                        event_id: event.event_id,
                        error: err,
                    });
                    None
                }
                None => Some((index, event)),
            })
            .collect()
    }

    /// Dedup → pack per partition → produce concurrently → (COMMITTED: wait
    /// for the processor) → one outcome per event.
    async fn submit(
        &self,
        principal: &Principal,
        events: Vec<(u32, Event)>,
        ack: AckLevel,
    ) -> Vec<Submitted> {
        let project = principal.project_id;
        let mut outcomes = Vec::with_capacity(events.len());
        // Duplicates within the request, then ids accepted before.
        let mut in_request = HashSet::new();
        let events: Vec<(u32, Event)> = events
            .into_iter()
            .filter_map(|(index, event)| {
                if in_request.insert(event.event_id.clone()) {
                    Some((index, event))
                } else {
                    outcomes.push(Submitted::Done(result(
                        index,
                        event.event_id,
                        EventStatus::Duplicate,
                    )));
                    None
                }
            })
            .collect();
        let events = self.admit_users(project, events, &mut outcomes).await;
        let ids: Vec<&str> = events.iter().map(|(_, e)| e.event_id.as_str()).collect();
        let seen = self.dedup.seen(project, &ids).await;
        let mut groups: BTreeMap<i32, Vec<(u32, Event)>> = BTreeMap::new();
        for ((index, event), seen) in events.into_iter().zip(seen) {
            if seen {
                outcomes.push(Submitted::Done(result(
                    index,
                    event.event_id,
                    EventStatus::Duplicate,
                )));
            } else {
                // One user's events share a partition, which keeps them in order.
                let routing = format!("{project}/{}", routing_key(&event));
                groups
                    .entry(self.producer.partition_for(routing.as_bytes()))
                    .or_default()
                    .push((index, event));
            }
        }
        let receive_time = Some(Timestamp::from(SystemTime::now()));
        let sends = groups.into_iter().flat_map(|(partition, events)| {
            split_records(events)
                .into_iter()
                .map(move |chunk| (partition, chunk))
        });
        let sends = sends.map(|(partition, chunk)| async move {
            let (indexes, events): (Vec<(u32, String)>, Vec<Event>) = chunk
                .into_iter()
                .map(|(i, e)| ((i, e.event_id.clone()), e))
                .unzip();
            let batch = EventBatchRecord {
                project_id: project.to_string(),
                events,
                receive_time,
            };
            let sent = self
                .producer
                .send_to(partition, batch, self.ack_timeout)
                .await;
            (indexes, sent)
        });
        let mut sent_records = Vec::new();
        for (indexes, sent) in futures::future::join_all(sends).await {
            match sent {
                Ok(record) => sent_records.push((record, indexes)),
                Err(err) => {
                    outcomes.extend(indexes.into_iter().map(|(index, id)| Submitted::Failed {
                        index,
                        event_id: id,
                        error: IngestError::Produce(err.clone()),
                    }));
                }
            }
        }
        // Remembered as soon as the broker has them, before any COMMITTED wait.
        let accepted: Vec<&str> = sent_records
            .iter()
            .flat_map(|(_, indexes)| indexes.iter().map(|(_, id)| id.as_str()))
            .collect();
        self.dedup.mark(project, &accepted).await;
        // One deadline for the whole call: the waits run side by side.
        let stored = futures::future::join_all(sent_records.iter().map(|(record, _)| async {
            ack == AckLevel::Committed
                && self
                    .committed
                    .watermarks
                    .wait_stored(record.partition, record.offset, self.committed.timeout)
                    .await
        }))
        .await;
        for ((_, indexes), stored) in sent_records.into_iter().zip(stored) {
            for (index, event_id) in indexes {
                let mut accepted = result(index, event_id, EventStatus::Accepted);
                accepted.stored = stored;
                outcomes.push(Submitted::Done(accepted));
            }
        }
        outcomes
    }
}

/// What became of one submitted event.
enum Submitted {
    /// Accepted or duplicate.
    Done(EventResult),
    /// Not written.
    Failed {
        /// Position of the event in the request.
        index: u32,
        /// The event's id.
        event_id: String,
        /// Why it was not written.
        error: IngestError,
    },
}

/// Splits one partition's events into records of at most [`MAX_RECORD_BYTES`].
fn split_records(events: Vec<(u32, Event)>) -> Vec<Vec<(u32, Event)>> {
    let mut records = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for (index, event) in events {
        let size = event.encoded_len() + 8;
        if !current.is_empty() && bytes + size > MAX_RECORD_BYTES {
            records.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push((index, event));
    }
    if !current.is_empty() {
        records.push(current);
    }
    records
}

/// The user when known, else the event itself.
fn routing_key(event: &Event) -> &str {
    if event.user_id.is_empty() {
        &event.event_id
    } else {
        &event.user_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn test_records_are_split_by_size() {
        let big = |i: u32| {
            (
                i,
                Event {
                    r#type: "t".into(),
                    service: "s".repeat(100),
                    user_id: "x".repeat(200),
                    event_id: Uuid::now_v7().to_string(),
                    ..Default::default()
                },
            )
        };
        let events: Vec<_> = (0..2000).map(big).collect();
        let records = split_records(events);
        assert!(records.len() > 1);
        assert_eq!(records.iter().map(Vec::len).sum::<usize>(), 2000);
        for record in &records {
            let bytes: usize = record.iter().map(|(_, e)| e.encoded_len() + 8).sum();
            assert!(bytes <= MAX_RECORD_BYTES);
        }
    }
}
