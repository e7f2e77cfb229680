//! Query domain logic. Every read names the caller's project in its SQL and
//! runs in a row-level-security transaction scoped to that project.

use std::time::{Duration, SystemTime};

use boost_proto::{
    common::v1::{Event, EventKind, LogBody, MetricBody, Severity, SpanBody, event::Body},
    json::{json_to_struct, struct_to_json, struct_unstorable},
    prost::Message,
    prost_types::Timestamp,
    query::v1::{
        AggregateRequest, AggregateResponse, Bucket as PbBucket, EventFilter as PbFilter,
        EventState, GetEventResponse, GetMetricsResponse, Group, GroupBy, ListEventsRequest,
        ListEventsResponse, ListUsersRequest, ListUsersResponse, Order, Source,
        StoredEvent as PbStoredEvent, Total, User,
    },
};
use boost_server::{
    ApiError,
    auth::Principal,
    paging::{PageError, Pager},
};
use boost_storage::{
    Pool, StorageError,
    aggregates::{self, Bucket, GroupCount, Grouping},
    dead_letters,
    events::{self, Cursor, Page, StoredEvent, Telemetry},
    filter::EventFilter,
    rls,
    users::{self, EndUser},
    utc::{self, HOUR},
};
use uuid::Uuid;

use crate::cursor;

/// Page size when the caller sends none.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page a caller may ask for.
pub const MAX_PAGE_SIZE: usize = 1000;
/// Default window when no start time is given.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Totals are exact up to this many rows, estimated above.
pub const EXACT_TOTAL_UP_TO: i64 = 10_000;
/// Groups Aggregate returns by default, and at most.
pub const DEFAULT_GROUPS: i32 = 10;
/// Most groups Aggregate returns.
pub const MAX_GROUPS: i32 = 1000;
/// Services GetMetrics ranks.
const TOP_SERVICES: usize = 5;
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
    /// Nothing with that id in the caller's project.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<QueryError> for ApiError {
    fn from(err: QueryError) -> Self {
        match err {
            QueryError::InvalidField { field, reason } => ApiError::bad_field(field, reason),
            QueryError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
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

/// The `[start, end)` a request names, with the defaults filled in.
fn time_range(
    start: Option<Timestamp>,
    end: Option<Timestamp>,
) -> Result<(SystemTime, SystemTime), QueryError> {
    let end = match end {
        Some(t) => boost_proto::time::checked(&t).map_err(|reason| invalid("end_time", reason))?,
        None => SystemTime::now() + DEFAULT_END_SLACK,
    };
    let start = match start {
        Some(t) => {
            boost_proto::time::checked(&t).map_err(|reason| invalid("start_time", reason))?
        }
        None => end - DEFAULT_WINDOW,
    };
    if start >= end {
        return Err(invalid("start_time", "must be before end_time"));
    }
    Ok((start, end))
}

/// The storage filter for a request's filter message, checked field by field.
fn to_filter(
    project_id: Uuid,
    (start, end): (SystemTime, SystemTime),
    filter: Option<&PbFilter>,
) -> Result<EventFilter, QueryError> {
    let mut out = EventFilter::new(project_id, start, end);
    let Some(filter) = filter else {
        return Ok(out);
    };
    out.service = filter_text("filter.service", &filter.service)?;
    out.event_type = filter_text("filter.type", &filter.r#type)?;
    out.user_id = filter_text("filter.user_id", &filter.user_id)?;
    out.kind = match EventKind::try_from(filter.kind) {
        Ok(EventKind::Unspecified) => None,
        Ok(kind) => Some(kind as i16),
        Err(_) => return Err(invalid("filter.kind", "not an EventKind")),
    };
    out.min_severity = match Severity::try_from(filter.min_severity) {
        Ok(Severity::Unspecified) => None,
        Ok(severity) => Some(severity as i16),
        Err(_) => return Err(invalid("filter.min_severity", "not a Severity")),
    };
    if out.min_severity.is_some() && out.kind.is_some_and(|k| k != EventKind::Log as i16) {
        return Err(invalid("filter.min_severity", "applies to LOG events only"));
    }
    if let Some(properties) = &filter.properties {
        if let Some(reason) = struct_unstorable(properties) {
            return Err(invalid("filter.properties", reason));
        }
        if !properties.fields.is_empty() {
            out.properties = Some(struct_to_json(properties));
        }
    }
    Ok(out)
}

/// A text filter: empty means "any"; a NUL character can match nothing
/// PostgreSQL stores, and would fail the statement, so it is refused.
fn filter_text(field: &'static str, value: &str) -> Result<Option<String>, QueryError> {
    if value.contains('\0') {
        return Err(invalid(field, "must not contain NUL characters"));
    }
    Ok((!value.is_empty()).then(|| value.to_string()))
}

impl From<PageError> for QueryError {
    fn from(err: PageError) -> Self {
        invalid(err.field, err.reason)
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

    /// Lists the caller's matching events, newest or oldest first.
    pub async fn list_events(
        &self,
        principal: &Principal,
        request: &ListEventsRequest,
    ) -> Result<ListEventsResponse, QueryError> {
        let range = time_range(request.start_time, request.end_time)?;
        let filter = to_filter(principal.project_id, range, request.filter.as_ref())?;
        let oldest_first = match Order::try_from(request.order) {
            Ok(Order::Unspecified | Order::NewestFirst) => false,
            Ok(Order::OldestFirst) => true,
            Err(_) => return Err(invalid("order", "not an Order")),
        };
        // The token is bound to the project and everything but the paging fields.
        let query = ListEventsRequest {
            page_token: String::new(),
            page_size: 0,
            include_total: false,
            ..request.clone()
        };
        let pager = Pager::new(
            if oldest_first {
                "events-oldest"
            } else {
                "events-newest"
            },
            &[principal.project_id.as_bytes(), &query.encode_to_vec()],
            request.page_size,
            DEFAULT_PAGE_SIZE,
            MAX_PAGE_SIZE,
        )?;
        let after = match pager.after(&request.page_token)? {
            Some(text) => Some(
                cursor::event(&text).ok_or_else(|| invalid("page_token", "not a page token"))?,
            ),
            None => None,
        };
        let page = Page {
            limit: pager.fetch() as i64,
            after,
            oldest_first,
        };
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = rls::read_as(&mut client, principal.project_id).await?;
        let mut rows = events::list(&tx, &filter, &page).await?;
        let total = if request.include_total {
            let (count, exact) = events::total(&tx, &filter, EXACT_TOTAL_UP_TO).await?;
            Some(Total { count, exact })
        } else {
            None
        };
        let next_page_token = pager.finish(&mut rows, |last| {
            cursor::event_text(&Cursor {
                occurred_at: last.occurred_at,
                event_id: last.event_id,
            })
        });
        Ok(ListEventsResponse {
            events: rows.into_iter().map(to_proto).collect(),
            next_page_token,
            total,
        })
    }

    /// One event: stored, failed (dead-lettered), or NOT_FOUND.
    pub async fn get_event(
        &self,
        principal: &Principal,
        event_id: &str,
    ) -> Result<GetEventResponse, QueryError> {
        let event_id: Uuid = event_id
            .parse()
            .map_err(|_| invalid("event_id", "must be a UUID"))?;
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = rls::read_as(&mut client, principal.project_id).await?;
        if let Some(row) = events::get(&tx, principal.project_id, event_id).await? {
            return Ok(GetEventResponse {
                state: EventState::Stored as i32,
                event: Some(to_proto(row)),
                ..Default::default()
            });
        }
        let failed = dead_letters::failed_event(&tx, principal.project_id, event_id)
            .await?
            .ok_or(QueryError::NotFound("event"))?;
        Ok(GetEventResponse {
            state: EventState::Failed as i32,
            event: Some(PbStoredEvent {
                event: Event::decode(failed.payload.as_slice()).ok(),
                receive_time: Some(Timestamp::from(failed.updated_at)),
            }),
            error: failed.error,
            attempts: failed.attempts,
        })
    }

    /// One end user of the caller's project.
    pub async fn get_user(&self, principal: &Principal, user_id: &str) -> Result<User, QueryError> {
        if user_id.is_empty() {
            return Err(invalid("user_id", "is required"));
        }
        if user_id.contains('\0') {
            return Err(invalid("user_id", "must not contain NUL characters"));
        }
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = rls::read_as(&mut client, principal.project_id).await?;
        users::get(&tx, principal.project_id, user_id)
            .await?
            .map(user_to_proto)
            .ok_or(QueryError::NotFound("user"))
    }

    /// The caller's end users, most recently seen first.
    pub async fn list_users(
        &self,
        principal: &Principal,
        request: &ListUsersRequest,
    ) -> Result<ListUsersResponse, QueryError> {
        let pager = Pager::new(
            "users",
            &[principal.project_id.as_bytes()],
            request.page_size,
            DEFAULT_PAGE_SIZE,
            MAX_PAGE_SIZE,
        )?;
        let after = match pager.after(&request.page_token)? {
            Some(text) => {
                Some(cursor::user(&text).ok_or_else(|| invalid("page_token", "not a page token"))?)
            }
            None => None,
        };
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = rls::read_as(&mut client, principal.project_id).await?;
        let mut rows = users::list(
            &tx,
            principal.project_id,
            pager.fetch() as i64,
            after.as_ref(),
        )
        .await?;
        let next_page_token = pager.finish(&mut rows, |u| {
            cursor::user_text(&(u.last_seen, u.user_id.clone()))
        });
        Ok(ListUsersResponse {
            users: rows.into_iter().map(user_to_proto).collect(),
            next_page_token,
        })
    }

    /// Counts grouped by one dimension, from rollups when they can answer.
    pub async fn aggregate(
        &self,
        principal: &Principal,
        request: &AggregateRequest,
    ) -> Result<AggregateResponse, QueryError> {
        let range = time_range(request.start_time, request.end_time)?;
        let filter = to_filter(principal.project_id, range, request.filter.as_ref())?;
        let bucket = match PbBucket::try_from(request.bucket) {
            Ok(PbBucket::Unspecified | PbBucket::Hour) => Bucket::Hour,
            Ok(PbBucket::Minute) => Bucket::Minute,
            Ok(PbBucket::Day) => Bucket::Day,
            Err(_) => return Err(invalid("bucket", "not a Bucket")),
        };
        let grouping = match GroupBy::try_from(request.group_by) {
            Ok(GroupBy::Service) => Grouping::Service,
            Ok(GroupBy::Type) => Grouping::Type,
            Ok(GroupBy::Kind) => Grouping::Kind,
            Ok(GroupBy::User) => Grouping::User,
            Ok(GroupBy::Time) => Grouping::Time(bucket),
            Ok(GroupBy::Unspecified) | Err(_) => {
                return Err(invalid(
                    "group_by",
                    "is required: SERVICE, TYPE, KIND, USER or TIME",
                ));
            }
        };
        let limit = match request.limit {
            0 => DEFAULT_GROUPS,
            n if (1..=MAX_GROUPS).contains(&n) => n,
            _ => {
                return Err(invalid(
                    "limit",
                    format!("must be between 0 and {MAX_GROUPS}"),
                ));
            }
        };
        let from_rollups = aggregates::rollups_can_answer(&filter, grouping);
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = rls::read_as(&mut client, principal.project_id).await?;
        let groups =
            aggregates::count(&tx, &filter, grouping, i64::from(limit), from_rollups).await?;
        Ok(AggregateResponse {
            groups: groups
                .into_iter()
                .map(|g| group_to_proto(g, grouping))
                .collect(),
            source: if from_rollups {
                Source::Rollups
            } else {
                Source::Raw
            } as i32,
        })
    }

    /// The project's business metrics, from three queries on two
    /// connections: all-time counts by service (rollups), the last 24 hours
    /// by hour and service (hourly rollups), and an exact last-hour count.
    pub async fn metrics(&self, principal: &Principal) -> Result<GetMetricsResponse, QueryError> {
        let project = principal.project_id;
        let now = SystemTime::now();
        let this_hour = utc::floor(now, HOUR);
        let all_time = EventFilter::new(project, SystemTime::UNIX_EPOCH, this_hour + 2 * HOUR);
        let last_day = EventFilter::new(project, this_hour - 23 * HOUR, this_hour + 2 * HOUR);
        let last_hour = EventFilter::new(project, now - HOUR, now + DEFAULT_END_SLACK);
        let all_time_by_service = async {
            let mut client = self.pool.get().await.map_err(StorageError::from)?;
            let tx = rls::read_as(&mut client, project).await?;
            let limit = i64::from(MAX_GROUPS);
            let by_service =
                aggregates::count(&tx, &all_time, Grouping::Service, limit, true).await?;
            // Past MAX_GROUPS services the groups no longer add up to the total.
            let total = if by_service.len() < MAX_GROUPS as usize {
                by_service.iter().map(|g| g.count).sum()
            } else {
                aggregates::rollup_total(&tx, &all_time).await?
            };
            Ok::<_, QueryError>((total, by_service))
        };
        let recent = async {
            let mut client = self.pool.get().await.map_err(StorageError::from)?;
            let tx = rls::read_as(&mut client, project).await?;
            // Pipelined on the one connection.
            Ok::<_, QueryError>(tokio::try_join!(
                aggregates::service_hours(&tx, &last_day),
                events::count_matching(&tx, &last_hour),
            )?)
        };
        let ((total_events, by_service), (service_hours, last_hour)) =
            tokio::try_join!(all_time_by_service, recent)?;
        let day = DayTotals::from_service_hours(service_hours);
        let groups = |g: Vec<GroupCount>, grouping| {
            g.into_iter().map(|g| group_to_proto(g, grouping)).collect()
        };
        Ok(GetMetricsResponse {
            total_events,
            last_hour,
            last_24_hours: day.total,
            by_service: groups(by_service, Grouping::Service),
            top_services: groups(day.top_services(TOP_SERVICES), Grouping::Service),
            by_hour: groups(day.by_hour, Grouping::Time(Bucket::Hour)),
        })
    }

    /// Events matching `filter` stored after the (stored_at, event_id)
    /// position `after`, for the live tail.
    pub async fn stored_since(
        &self,
        filter: &EventFilter,
        after: (SystemTime, Uuid),
        limit: i64,
    ) -> Result<Vec<(SystemTime, StoredEvent)>, QueryError> {
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = rls::read_as(&mut client, filter.project_id).await?;
        Ok(events::stored_since(&tx, filter, after, limit).await?)
    }

    /// The filter of a TailEvents request: any event time.
    pub fn tail_filter(
        &self,
        principal: &Principal,
        filter: Option<&PbFilter>,
    ) -> Result<EventFilter, QueryError> {
        let now = SystemTime::now();
        to_filter(
            principal.project_id,
            (now - TAIL_ANY_TIME, now + TAIL_ANY_TIME),
            filter,
        )
    }
}

/// TailEvents follows new rows whatever their event time: its time range is
/// this far either side of now (about 100 years).
const TAIL_ANY_TIME: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A day of (hour, service) counts folded into GetMetrics' views.
struct DayTotals {
    /// Every event of the day.
    total: i64,
    /// Per hour, in time order.
    by_hour: Vec<GroupCount>,
    /// Per service.
    by_service: std::collections::HashMap<String, i64>,
}

impl DayTotals {
    fn from_service_hours(rows: Vec<(SystemTime, String, i64)>) -> Self {
        let mut day = DayTotals {
            total: 0,
            by_hour: Vec::new(),
            by_service: std::collections::HashMap::new(),
        };
        for (hour, service, count) in rows {
            day.total += count;
            *day.by_service.entry(service).or_default() += count;
            match day.by_hour.last_mut() {
                Some(last) if last.bucket_start == Some(hour) => last.count += count,
                _ => day.by_hour.push(GroupCount {
                    key: String::new(),
                    bucket_start: Some(hour),
                    count,
                }),
            }
        }
        day
    }

    /// The `n` busiest services, largest first, ties by name.
    fn top_services(&self, n: usize) -> Vec<GroupCount> {
        let mut services: Vec<GroupCount> = self
            .by_service
            .iter()
            .map(|(service, count)| GroupCount {
                key: service.clone(),
                bucket_start: None,
                count: *count,
            })
            .collect();
        services.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        services.truncate(n);
        services
    }
}

fn group_to_proto(group: GroupCount, grouping: Grouping) -> Group {
    let key = match grouping {
        // Kinds are stored as numbers; callers read names.
        Grouping::Kind => group
            .key
            .parse::<i32>()
            .ok()
            .and_then(|k| EventKind::try_from(k).ok())
            .map_or(group.key, |k| k.as_str_name().to_string()),
        _ => group.key,
    };
    Group {
        key,
        bucket_start: group.bucket_start.map(Timestamp::from),
        count: group.count,
    }
}

fn user_to_proto(user: EndUser) -> User {
    User {
        user_id: user.user_id,
        traits: Some(json_to_struct(&user.traits)),
        first_seen: Some(Timestamp::from(user.first_seen)),
        last_seen: Some(Timestamp::from(user.last_seen)),
        event_count: user.events,
    }
}

/// The wire form of a stored event.
pub fn to_proto(row: StoredEvent) -> PbStoredEvent {
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
            duration: Duration::from_micros(duration_us.max(0) as u64)
                .try_into()
                .ok(),
            error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_day_totals_fold_hours_and_rank_services() {
        let h0 = SystemTime::UNIX_EPOCH + HOUR;
        let h1 = h0 + HOUR;
        let day = DayTotals::from_service_hours(vec![
            (h0, "api".into(), 3),
            (h0, "web".into(), 5),
            (h1, "api".into(), 4),
            (h1, "batch".into(), 1),
            (h1, "web".into(), 2),
        ]);
        assert_eq!(day.total, 15);
        let hours: Vec<_> = day
            .by_hour
            .iter()
            .map(|g| (g.bucket_start, g.count))
            .collect();
        assert_eq!(hours, vec![(Some(h0), 8), (Some(h1), 7)]);
        let top: Vec<_> = day
            .top_services(2)
            .into_iter()
            .map(|g| (g.key, g.count))
            .collect();
        // api and web tie at 7: by name.
        assert_eq!(top, vec![("api".to_string(), 7), ("web".to_string(), 7)]);
    }
}
