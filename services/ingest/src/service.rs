//! Ingest domain logic: admit (rate limits), validate, drop duplicates
//! early, pack events into Kafka records per partition, answer per event
//! once the broker has them. It takes and returns the domain types of
//! [`crate::model`].

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::{Duration, SystemTime},
};

use boost_kafka::{ProduceError, Producer, producer::MAX_RECORD_BYTES};
use boost_proto::{
    common::v1::{Event, EventBatchRecord},
    prost::Message,
    prost_types::Timestamp,
};
use boost_server::{ApiError, ErrorCode, auth::Principal, error::RETRY_DELAY};
use futures::{Stream, StreamExt};
use tonic_types::ErrorDetails;
use tracing::Instrument;

use crate::{
    commit_wait::StoredWatermarks,
    dedup::Dedup,
    model::{
        Ack, Admitted, Batch, BatchOutcome, EventOutcome, LimitsView, OneEvent, Rejection, Sender,
        StreamSummary, Unreadable, Verdict,
    },
    rate_limit::{Decision, RateLimiter, Subject},
    validate::{
        ANY_KIND, FieldError, IDENTIFY, KindRule, Limits, TRACK, canonical_event_id, validate_event,
    },
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
    /// stream answer.
    fn as_rejection(&self) -> Rejection {
        let whole = |reason: String| Rejection {
            field: String::new(),
            reason,
            retryable: true,
        };
        match self {
            IngestError::Invalid(e) => Rejection {
                field: e.field.clone(),
                reason: e.reason.clone(),
                retryable: false,
            },
            IngestError::Produce(ProduceError::BufferFull) => {
                whole("ingest buffer full, retry later".into())
            }
            IngestError::Produce(_) => whole("broker did not acknowledge, retry later".into()),
            IngestError::RateLimited { .. } => whole(self.to_string()),
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

impl StreamSummary {
    fn reject(&mut self, outcome: EventOutcome) {
        self.rejected += 1;
        if self.rejections.len() < MAX_STREAM_REJECTIONS {
            self.rejections.push(outcome);
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

fn outcome(index: u32, event_id: String, verdict: Verdict) -> EventOutcome {
    EventOutcome {
        index,
        event_id,
        verdict,
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
    async fn admit(&self, sender: &Sender, events: usize) -> Result<Option<Decision>, IngestError> {
        let events = events as u64;
        let principal = &sender.principal;
        let mut subjects = vec![(Subject::Project(principal.project_id), events)];
        if let Some(key) = principal.api_key_id {
            subjects.push((Subject::Key(key), events));
        }
        if let Some(address) = sender.address {
            subjects.push((Subject::Address(address), events));
        }
        let decisions = self.limiter.check(subjects).await;
        if let Some((subject, decision)) = decisions.iter().find(|(_, d)| !d.allowed) {
            metrics::counter!(RATE_LIMITED, "limit" => subject.kind()).increment(events);
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
    pub async fn limits(&self, principal: &Principal) -> LimitsView {
        LimitsView {
            events: self.limits.clone(),
            rate: self.limiter.limits(),
            usage: self
                .limiter
                .usage(Subject::Project(principal.project_id))
                .await,
        }
    }

    /// One product event, admitted against the rate limits; an invalid
    /// event is INVALID_ARGUMENT.
    pub async fn track(
        &self,
        sender: &Sender,
        request: OneEvent,
    ) -> Result<Admitted<EventOutcome>, IngestError> {
        self.single(sender, request, TRACK).await
    }

    /// One identify event (`user_id` required), admitted against the rate
    /// limits; an invalid event is INVALID_ARGUMENT.
    pub async fn identify(
        &self,
        sender: &Sender,
        request: OneEvent,
    ) -> Result<Admitted<EventOutcome>, IngestError> {
        self.single(sender, request, IDENTIFY).await
    }

    async fn single(
        &self,
        sender: &Sender,
        request: OneEvent,
        rule: KindRule,
    ) -> Result<Admitted<EventOutcome>, IngestError> {
        let (decision, known) = tokio::join!(
            self.admit(sender, 1),
            self.known_ids(
                sender.principal.project_id,
                std::slice::from_ref(&request.event)
            )
        );
        let decision = decision?;
        let event = tracing::info_span!("validate", events = 1)
            .in_scope(|| {
                validate_event(
                    request.event,
                    rule,
                    &self.limits,
                    SystemTime::now(),
                    "event",
                )
            })
            .inspect_err(|e| count_rejected(&e.field))?;
        let mut results = self
            .submit(&sender.principal, vec![(0, event)], &known, request.ack)
            .await;
        match results.pop().expect("one result per event") {
            Submitted::Done(answer) => {
                count_outcomes(std::slice::from_ref(&answer));
                Ok(Admitted { answer, decision })
            }
            Submitted::Failed { error, .. } => Err(error),
        }
    }

    /// Many events, admitted against the rate limits as a whole, answered
    /// per event. The whole call fails only when the request itself is
    /// invalid or refused, or when no event could be written because the
    /// broker is down or the buffer full.
    pub async fn ingest_batch(
        &self,
        sender: &Sender,
        batch: Batch,
    ) -> Result<Admitted<BatchOutcome>, IngestError> {
        let (decision, known) = tokio::join!(
            self.admit(sender, batch.events.len()),
            self.known_ids(sender.principal.project_id, &batch.events)
        );
        let decision = decision?;
        let answer = self
            .write_batch(&sender.principal, batch.events, &known, batch.ack)
            .await?;
        Ok(Admitted { answer, decision })
    }

    /// Validates and writes one batch already admitted; `known` holds the
    /// ids the dedup lookup found.
    async fn write_batch(
        &self,
        principal: &Principal,
        events: Vec<Event>,
        known: &HashSet<String>,
        ack: Ack,
    ) -> Result<BatchOutcome, IngestError> {
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
        let validating = tracing::info_span!("validate", events = events.len()).entered();
        for (i, event) in events.into_iter().enumerate() {
            let index = i as u32;
            let event_id = event.event_id.clone();
            match validate_event(event, ANY_KIND, &self.limits, now, &format!("events[{i}]")) {
                Ok(event) => valid.push((index, event)),
                Err(e) => results.push(outcome(
                    index,
                    event_id,
                    Verdict::Rejected(IngestError::from(e).as_rejection()),
                )),
            }
        }
        drop(validating);
        let mut failures = Vec::new();
        for submitted in self.submit(principal, valid, known, ack).await {
            match submitted {
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
            results.push(outcome(
                index,
                event_id,
                Verdict::Rejected(err.as_rejection()),
            ));
        }
        results.sort_by_key(|r| r.index);
        count_outcomes(&results);
        Ok(BatchOutcome { results })
    }

    /// IngestStream: each message of `messages` is admitted and ingested
    /// like an IngestBatch at the broker level, and counted. A message that
    /// cannot be read ends the stream, but the answer still accounts for
    /// every event read before it (`messages`, `stopped`).
    pub async fn ingest_stream<S>(&self, sender: &Sender, mut messages: S) -> StreamSummary
    where
        S: Stream<Item = Result<Vec<Event>, Unreadable>> + Unpin,
    {
        let mut summary = StreamSummary::default();
        let mut received = 0u64;
        while let Some(message) = messages.next().await {
            match message {
                Ok(events) => {
                    let offset = received as u32;
                    received += events.len() as u64;
                    self.ingest_stream_message(sender, events, offset, &mut summary)
                        .await;
                    summary.messages += 1;
                }
                Err(unreadable) => {
                    tracing::info!(
                        code = unreadable.code,
                        messages = summary.messages,
                        "ingest stream stopped on an unreadable message"
                    );
                    summary.stopped = Some((summary.messages, unreadable));
                    break;
                }
            }
        }
        summary
    }

    /// Takes one IngestStream message whose first event has index `offset`
    /// in the stream. Never fails the stream: a message refused as a whole
    /// (bad count, rate limit, broker down, buffer full) becomes rejected
    /// events, retryable where sending again may work.
    async fn ingest_stream_message(
        &self,
        sender: &Sender,
        events: Vec<Event>,
        offset: u32,
        summary: &mut StreamSummary,
    ) {
        let ids: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
        let batch = Batch {
            events,
            ack: Ack::Broker,
        };
        match self.ingest_batch(sender, batch).await {
            Ok(Admitted { answer, .. }) => {
                summary.accepted += answer.accepted() as u64;
                summary.duplicates += answer.duplicates() as u64;
                for mut result in answer.results {
                    if result.is_rejected() {
                        result.index += offset;
                        summary.reject(result);
                    }
                }
            }
            Err(err) => {
                let rejection = err.as_rejection();
                for (i, event_id) in ids.into_iter().enumerate() {
                    summary.reject(outcome(
                        offset + i as u32,
                        event_id,
                        Verdict::Rejected(rejection.clone()),
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

    /// The client-chosen event ids of `events` that were accepted before,
    /// in the form validation gives them. Looked up before validation, so
    /// that it shares a Redis round trip with admission; ids the server
    /// assigns are new and not looked up.
    async fn known_ids(&self, project: uuid::Uuid, events: &[Event]) -> HashSet<String> {
        if events.len() > self.limits.max_batch_events {
            return HashSet::new(); // refused by write_batch; nothing to look up
        }
        let ids: Vec<String> = events
            .iter()
            .filter_map(|e| canonical_event_id(&e.event_id).ok())
            .collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let seen = self
            .dedup
            .seen(project, &refs)
            .instrument(tracing::info_span!("dedup.check", events = refs.len()))
            .await;
        ids.into_iter()
            .zip(seen)
            .filter_map(|(id, seen)| seen.then_some(id))
            .collect()
    }

    /// Dedup (against `known`, the ids accepted before) → pack per
    /// partition → produce concurrently → (COMMITTED: wait for the
    /// processor) → one outcome per event.
    async fn submit(
        &self,
        principal: &Principal,
        events: Vec<(u32, Event)>,
        known: &HashSet<String>,
        ack: Ack,
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
                    outcomes.push(Submitted::Done(outcome(
                        index,
                        event.event_id,
                        Verdict::Duplicate,
                    )));
                    None
                }
            })
            .collect();
        let events = self.admit_users(project, events, &mut outcomes).await;
        let mut groups: BTreeMap<i32, Vec<(u32, Event)>> = BTreeMap::new();
        for (index, event) in events {
            if known.contains(&event.event_id) {
                outcomes.push(Submitted::Done(outcome(
                    index,
                    event.event_id,
                    Verdict::Duplicate,
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
        let sends = sends.map(|(partition, chunk)| {
            let span = tracing::info_span!(
                "produce",
                otel.kind = "producer",
                partition,
                events = chunk.len()
            );
            async move {
                let (indexes, events): (Vec<(u32, String)>, Vec<Event>) = chunk
                    .into_iter()
                    .map(|(i, e)| ((i, e.event_id.clone()), e))
                    .unzip();
                let batch = EventBatchRecord {
                    project_id: project.to_string(),
                    events,
                    receive_time,
                };
                // The record carries this span's trace context to the processor.
                let sent = self
                    .producer
                    .send_to(partition, batch, self.ack_timeout)
                    .await;
                (indexes, sent)
            }
            .instrument(span)
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
        self.dedup.mark(project, &accepted);
        // One deadline for the whole call: the waits run side by side.
        let stored = futures::future::join_all(sent_records.iter().map(|(record, _)| async {
            ack == Ack::Committed
                && self
                    .committed
                    .watermarks
                    .wait_stored(record.partition, record.offset, self.committed.timeout)
                    .instrument(tracing::info_span!(
                        "commit_wait",
                        partition = record.partition,
                        offset = record.offset
                    ))
                    .await
        }))
        .await;
        for ((_, indexes), stored) in sent_records.into_iter().zip(stored) {
            for (index, event_id) in indexes {
                outcomes.push(Submitted::Done(outcome(
                    index,
                    event_id,
                    Verdict::Accepted { stored },
                )));
            }
        }
        outcomes
    }
}

/// What became of one submitted event.
enum Submitted {
    /// Accepted or duplicate.
    Done(EventOutcome),
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

/// Events answered, by `outcome` (accepted, duplicate, rejected) and, for
/// rejections, the `reason`: the refused field without the event's index.
const EVENTS: &str = "boost_ingest_events_total";
/// Events refused by a rate limit, by `limit` (project, api_key, user, client_address).
const RATE_LIMITED: &str = "boost_ingest_rate_limited_total";

/// Counts a request's per-event outcomes.
fn count_outcomes(outcomes: &[EventOutcome]) {
    for outcome in outcomes {
        match &outcome.verdict {
            Verdict::Accepted { .. } => {
                metrics::counter!(EVENTS, "outcome" => "accepted").increment(1);
            }
            Verdict::Duplicate => metrics::counter!(EVENTS, "outcome" => "duplicate").increment(1),
            Verdict::Rejected(r) if r.retryable => {
                metrics::counter!(EVENTS, "outcome" => "rejected", "reason" => "retryable")
                    .increment(1);
            }
            Verdict::Rejected(r) => count_rejected(&r.field),
        }
    }
}

/// Counts one event refused for `field` (`events[3].type` counts as `type`).
fn count_rejected(field: &str) {
    let reason = field
        .split_once('.')
        .map_or(field, |(_, rest)| rest)
        .to_string();
    metrics::counter!(EVENTS, "outcome" => "rejected", "reason" => reason).increment(1);
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
