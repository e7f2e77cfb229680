//! The domain types the ingest service speaks: checked requests in, one
//! outcome per event out. [`crate::grpc`] converts the protobuf messages to
//! and from these at the boundary.
//!
//! The event itself stays a `boost.common.v1.Event`: it is carried as is
//! into the Kafka record (an `EventBatchRecord`), so converting it into a
//! second type and back would copy every field twice on the hot path.
//! [`crate::validate`] checks it field by field before anything is written.

use std::net::IpAddr;

use boost_proto::common::v1::Event;
use boost_server::auth::Principal;

use crate::{
    rate_limit::{Decision, RateLimits},
    validate::Limits,
};

/// When an event counts as acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ack {
    /// Once the broker has it (the default).
    #[default]
    Broker,
    /// Once the processor has stored it, within the commit wait.
    Committed,
}

/// Who sends: the authenticated principal and, for per-address limits,
/// the client's address.
#[derive(Debug, Clone)]
pub struct Sender {
    /// The caller's project and credential.
    pub principal: Principal,
    /// The TCP peer, or the trusted proxy's `x-forwarded-for`.
    pub address: Option<IpAddr>,
}

/// A Track or Identify request: one event, present.
#[derive(Debug, Clone)]
pub struct OneEvent {
    /// The event, not yet validated.
    pub event: Event,
    /// Acknowledgement level.
    pub ack: Ack,
}

/// An IngestBatch request.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The events, not yet validated (the count is checked by the service).
    pub events: Vec<Event>,
    /// Acknowledgement level.
    pub ack: Ack,
}

/// Why an event was not taken, and whether sending it again may work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The offending field's path; empty when the event as a whole was refused.
    pub field: String,
    /// What is wrong.
    pub reason: String,
    /// Whether a later retry may succeed (rate limits, broker down).
    pub retryable: bool,
}

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The broker has it; `stored` when a COMMITTED wait saw it stored.
    Accepted {
        /// Whether the processor had stored it before the answer.
        stored: bool,
    },
    /// Accepted before (same project, same event id).
    Duplicate,
    /// Not written.
    Rejected(Rejection),
}

/// One event's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOutcome {
    /// Position of the event in its request (or stream).
    pub index: u32,
    /// The event's id as sent.
    pub event_id: String,
    /// What became of it.
    pub verdict: Verdict,
}

impl EventOutcome {
    /// Whether the event was refused.
    pub fn is_rejected(&self) -> bool {
        matches!(self.verdict, Verdict::Rejected(_))
    }
}

/// A batch's answers, one per event in request order.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    /// Per event, by index.
    pub results: Vec<EventOutcome>,
}

impl BatchOutcome {
    /// Events accepted now.
    pub fn accepted(&self) -> usize {
        self.count(|v| matches!(v, Verdict::Accepted { .. }))
    }

    /// Events accepted before.
    pub fn duplicates(&self) -> usize {
        self.count(|v| *v == Verdict::Duplicate)
    }

    /// Events refused.
    pub fn rejected(&self) -> usize {
        self.count(|v| matches!(v, Verdict::Rejected(_)))
    }

    fn count(&self, which: impl Fn(&Verdict) -> bool) -> usize {
        self.results.iter().filter(|r| which(&r.verdict)).count()
    }
}

/// A stream message that could not be read, as the status it would get alone.
#[derive(Debug, Clone)]
pub struct Unreadable {
    /// The gRPC status code number.
    pub code: i32,
    /// The status message.
    pub message: String,
}

/// Running totals and the answer of one IngestStream.
#[derive(Debug, Clone, Default)]
pub struct StreamSummary {
    /// Messages taken.
    pub messages: u64,
    /// Events accepted.
    pub accepted: u64,
    /// Events accepted before.
    pub duplicates: u64,
    /// Events refused (all of them, listed or not).
    pub rejected: u64,
    /// The first [`crate::service::MAX_STREAM_REJECTIONS`] refused events.
    pub rejections: Vec<EventOutcome>,
    /// The unreadable message that ended the stream, and its index.
    pub stopped: Option<(u64, Unreadable)>,
}

/// GetLimits' answer: the published limits and the project's usage now.
#[derive(Debug, Clone)]
pub struct LimitsView {
    /// Event limits.
    pub events: Limits,
    /// Rate limits per window.
    pub rate: RateLimits,
    /// The project's current window, if it has one.
    pub usage: Option<Decision>,
}

/// An answer with the rate-limit decision of its admission, for the
/// `x-ratelimit-*` metadata.
#[derive(Debug, Clone)]
pub struct Admitted<T> {
    /// The answer.
    pub answer: T,
    /// The tightest limit that let it through, if any applies.
    pub decision: Option<Decision>,
}
