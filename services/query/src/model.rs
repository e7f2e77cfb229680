//! The domain types the query service speaks: checked requests in, rows and
//! counts out. [`crate::grpc`] converts the protobuf messages to and from
//! these at the boundary, so [`crate::service`] never sees a protobuf type.

use std::time::{Duration, SystemTime};

use boost_storage::{
    aggregates::{GroupCount, Grouping},
    dead_letters::FailedEvent,
    events::StoredEvent,
    users::EndUser,
};

pub use boost_storage::filter::Criteria;

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A request field is invalid.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// Field path.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Nothing with that id in the caller's project.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] boost_storage::StorageError),
}

/// A field violation, named.
pub fn invalid(field: &'static str, reason: impl Into<String>) -> QueryError {
    QueryError::InvalidField {
        field,
        reason: reason.into(),
    }
}

/// Default window when no start time is given.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Slack added to "now" for the default end time, matching ingest's future skew.
pub const DEFAULT_END_SLACK: Duration = Duration::from_secs(300);
/// TailEvents follows new rows whatever their event time: its time range is
/// this far either side of now (about 100 years).
pub const TAIL_ANY_TIME: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A checked `[start, end)` of event times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub start: SystemTime,
    /// Exclusive end.
    pub end: SystemTime,
}

impl TimeRange {
    /// The range a request names, with the defaults filled in: the end is
    /// now plus [`DEFAULT_END_SLACK`], the start [`DEFAULT_WINDOW`] before it.
    pub fn with_defaults(
        start: Option<SystemTime>,
        end: Option<SystemTime>,
    ) -> Result<Self, QueryError> {
        let end = end.unwrap_or_else(|| SystemTime::now() + DEFAULT_END_SLACK);
        let start = start.unwrap_or(end - DEFAULT_WINDOW);
        if start >= end {
            return Err(invalid("start_time", "must be before end_time"));
        }
        Ok(Self { start, end })
    }

    /// Any event time (the live tail's range).
    pub fn any() -> Self {
        let now = SystemTime::now();
        Self {
            start: now - TAIL_ANY_TIME,
            end: now + TAIL_ANY_TIME,
        }
    }
}

/// A page request: the size asked for (0 for the default) and the previous
/// page's token (empty for the first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageAsk {
    /// Rows asked for; checked by the pager.
    pub size: i32,
    /// Opaque token from the previous page.
    pub token: String,
}

/// A ListEvents request, checked.
#[derive(Debug, Clone)]
pub struct EventListing {
    /// Event times.
    pub range: TimeRange,
    /// Narrowing.
    pub criteria: Criteria,
    /// Oldest first instead of newest first.
    pub oldest_first: bool,
    /// Which page.
    pub page: PageAsk,
    /// Whether to count the matches too.
    pub include_total: bool,
    /// Everything but the paging fields, encoded: page tokens are bound to it,
    /// so a token cannot be replayed against another filter.
    pub binding: Vec<u8>,
}

/// One page of events.
#[derive(Debug, Clone)]
pub struct EventPage {
    /// The rows, in the listing's order.
    pub events: Vec<StoredEvent>,
    /// The next page's token; empty on the last page.
    pub next_page_token: String,
    /// The match count and whether it is exact, when asked for.
    pub total: Option<(i64, bool)>,
}

/// What GetEvent found.
#[derive(Debug, Clone)]
pub enum FoundEvent {
    /// Stored in the events table.
    Stored(StoredEvent),
    /// Refused by the processor and dead-lettered.
    Failed(FailedEvent),
}

/// One page of end users.
#[derive(Debug, Clone)]
pub struct UserPage {
    /// Most recently seen first.
    pub users: Vec<EndUser>,
    /// The next page's token; empty on the last page.
    pub next_page_token: String,
}

/// An Aggregate request, checked.
#[derive(Debug, Clone)]
pub struct AggregateQuery {
    /// Event times.
    pub range: TimeRange,
    /// Narrowing.
    pub criteria: Criteria,
    /// The dimension counted.
    pub grouping: Grouping,
    /// Most groups returned.
    pub limit: i32,
}

/// Counts grouped by one dimension.
#[derive(Debug, Clone)]
pub struct Aggregation {
    /// The groups, largest first (time groups in time order).
    pub groups: Vec<GroupCount>,
    /// The dimension, so kinds can be named.
    pub grouping: Grouping,
    /// Whether the hourly rollups answered (else raw rows).
    pub from_rollups: bool,
}

/// A project's business metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Every event ever stored.
    pub total_events: i64,
    /// Events of the last hour (exact).
    pub last_hour: i64,
    /// Events of the last 24 hours.
    pub last_24_hours: i64,
    /// All-time counts per service.
    pub by_service: Vec<GroupCount>,
    /// The busiest services of the last 24 hours.
    pub top_services: Vec<GroupCount>,
    /// The last 24 hours by hour.
    pub by_hour: Vec<GroupCount>,
}
