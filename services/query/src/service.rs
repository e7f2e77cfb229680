//! Query domain logic. Every read is scoped to the caller's project.

use std::time::{Duration, SystemTime};

use boost_proto::{
    common::v1::{Event, LogBody, MetricBody, SpanBody, event::Body},
    json::json_to_struct,
    prost_types::Timestamp,
    query::v1::{ListEventsRequest, ListEventsResponse, StoredEvent as PbStoredEvent},
};
use boost_server::{ApiError, auth::Principal};
use boost_storage::{
    Pool, StorageError,
    events::{self, Cursor, EventFilter, StoredEvent, Telemetry},
};

use crate::page_token;

/// Page size when the caller sends none.
pub const DEFAULT_PAGE_SIZE: i32 = 100;
/// Largest page a caller may ask for.
pub const MAX_PAGE_SIZE: i32 = 1000;
/// Default window when no start time is given.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Slack added to "now" for the default end time, matching ingest's future skew.
const DEFAULT_END_SLACK: Duration = Duration::from_secs(300);

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
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<QueryError> for ApiError {
    fn from(err: QueryError) -> Self {
        match err {
            QueryError::InvalidField { field, reason } => ApiError::bad_field(field, reason),
            QueryError::Storage(e) => e.into(),
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> QueryError {
    QueryError::InvalidField {
        field,
        reason: reason.into(),
    }
}

/// Read operations over a pool.
#[derive(Clone)]
pub struct QueryLogic {
    /// Database connections.
    pool: Pool,
}

impl QueryLogic {
    /// Logic over `pool`.
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Lists the caller's events in a time range, newest first.
    pub async fn list_events(
        &self,
        principal: &Principal,
        request: &ListEventsRequest,
    ) -> Result<ListEventsResponse, QueryError> {
        let now = SystemTime::now();
        let end = match request.end_time {
            Some(t) => {
                SystemTime::try_from(t).map_err(|_| invalid("end_time", "not a valid timestamp"))?
            }
            None => now + DEFAULT_END_SLACK,
        };
        let start = match request.start_time {
            Some(t) => SystemTime::try_from(t)
                .map_err(|_| invalid("start_time", "not a valid timestamp"))?,
            None => end - DEFAULT_WINDOW,
        };
        if start >= end {
            return Err(invalid("start_time", "must be before end_time"));
        }
        let page_size = match request.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            _ => {
                return Err(invalid(
                    "page_size",
                    format!("must be between 0 and {MAX_PAGE_SIZE}"),
                ));
            }
        };
        let after = if request.page_token.is_empty() {
            None
        } else {
            Some(
                page_token::decode(&request.page_token)
                    .ok_or_else(|| invalid("page_token", "not a token from a previous page"))?,
            )
        };
        let filter = EventFilter {
            project_id: principal.project_id,
            start,
            end,
            // One extra row tells whether another page exists.
            limit: i64::from(page_size) + 1,
            after,
        };
        let client = self.pool.get().await.map_err(StorageError::from)?;
        let mut rows = events::list(&client, &filter).await?;
        let next_page_token = if rows.len() > page_size as usize {
            rows.truncate(page_size as usize);
            rows.last()
                .map(|last| {
                    page_token::encode(&Cursor {
                        occurred_at: last.occurred_at,
                        event_id: last.event_id,
                    })
                })
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(ListEventsResponse {
            events: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        })
    }
}

fn to_proto(row: StoredEvent) -> PbStoredEvent {
    PbStoredEvent {
        event: Some(Event {
            event_id: row.event_id.to_string(),
            r#type: row.event_type,
            timestamp: Some(Timestamp::from(row.occurred_at)),
            service: row.service,
            user_id: row.user_id,
            properties: Some(json_to_struct(&row.properties)),
            kind: i32::from(row.kind),
            body: row.telemetry.map(body),
        }),
        receive_time: Some(Timestamp::from(row.received_at)),
    }
}

/// The wire form of a stored telemetry payload.
fn body(telemetry: Telemetry) -> Body {
    match telemetry {
        Telemetry::Log { severity, message } => Body::Log(LogBody {
            severity: i32::from(severity),
            message,
        }),
        Telemetry::Metric { name, value, unit } => Body::Metric(MetricBody { name, value, unit }),
        Telemetry::Span {
            trace_id,
            span_id,
            parent_span_id,
            duration_us,
            error,
        } => Body::Span(SpanBody {
            trace_id,
            span_id,
            parent_span_id: parent_span_id.unwrap_or_default(),
            duration: Some(
                Duration::from_micros(duration_us.max(0) as u64)
                    .try_into()
                    .unwrap_or_default(),
            ),
            error,
        }),
    }
}
