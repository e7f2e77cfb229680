//! The boundary's conversions: protobuf requests into the checked domain
//! types of [`crate::model`] (each violation names its field), and domain
//! answers back into protobuf messages.

use std::time::{Duration, SystemTime};

use boost_proto::{
    common::v1::{Event, EventKind, LogBody, MetricBody, Severity, SpanBody, event::Body},
    json::{json_to_struct, struct_to_json, struct_unstorable},
    prost::Message,
    prost_types::Timestamp,
    query::v1::{
        AggregateRequest, AggregateResponse, Bucket as PbBucket, EventFilter as PbFilter,
        EventState, GetEventResponse, GetMetricsResponse, Group, GroupBy, ListEventsRequest,
        ListEventsResponse, ListUsersResponse, Order, Source, StoredEvent as PbStoredEvent, Total,
        User,
    },
};
use boost_storage::{
    aggregates::{Bucket, GroupCount, Grouping},
    events::{StoredEvent, Telemetry},
    users::EndUser,
};
use uuid::Uuid;

use crate::{
    model::{
        AggregateQuery, Aggregation, Criteria, EventListing, EventPage, FoundEvent, Metrics,
        PageAsk, QueryError, TimeRange, UserPage, invalid,
    },
    service::{DEFAULT_GROUPS, MAX_GROUPS},
};

/// A request timestamp, checked against the protobuf range, naming `field`.
fn time(
    field: &'static str,
    timestamp: Option<Timestamp>,
) -> Result<Option<SystemTime>, QueryError> {
    timestamp
        .map(|t| boost_proto::time::checked(&t).map_err(|reason| invalid(field, reason)))
        .transpose()
}

/// The `[start, end)` of a request's `start_time` and `end_time`.
fn time_range(start: Option<Timestamp>, end: Option<Timestamp>) -> Result<TimeRange, QueryError> {
    let end = time("end_time", end)?;
    let start = time("start_time", start)?;
    TimeRange::with_defaults(start, end)
}

/// A text filter: empty means "any"; a NUL character can match nothing
/// PostgreSQL stores, and would fail the statement, so it is refused.
fn filter_text(field: &'static str, value: &str) -> Result<Option<String>, QueryError> {
    if value.contains('\0') {
        return Err(invalid(field, "must not contain NUL characters"));
    }
    Ok((!value.is_empty()).then(|| value.to_string()))
}

/// The criteria of a request's filter message, checked field by field.
pub fn criteria(filter: Option<&PbFilter>) -> Result<Criteria, QueryError> {
    let Some(filter) = filter else {
        return Ok(Criteria::default());
    };
    let kind = match EventKind::try_from(filter.kind) {
        Ok(EventKind::Unspecified) => None,
        Ok(kind) => Some(kind as i16),
        Err(_) => return Err(invalid("filter.kind", "not an EventKind")),
    };
    let min_severity = match Severity::try_from(filter.min_severity) {
        Ok(Severity::Unspecified) => None,
        Ok(severity) => Some(severity as i16),
        Err(_) => return Err(invalid("filter.min_severity", "not a Severity")),
    };
    if min_severity.is_some() && kind.is_some_and(|k| k != EventKind::Log as i16) {
        return Err(invalid("filter.min_severity", "applies to LOG events only"));
    }
    let properties = match &filter.properties {
        Some(properties) => {
            if let Some(reason) = struct_unstorable(properties) {
                return Err(invalid("filter.properties", reason));
            }
            (!properties.fields.is_empty()).then(|| struct_to_json(properties))
        }
        None => None,
    };
    Ok(Criteria {
        service: filter_text("filter.service", &filter.service)?,
        event_type: filter_text("filter.type", &filter.r#type)?,
        user_id: filter_text("filter.user_id", &filter.user_id)?,
        kind,
        min_severity,
        properties,
    })
}

impl TryFrom<&ListEventsRequest> for EventListing {
    type Error = QueryError;

    fn try_from(request: &ListEventsRequest) -> Result<Self, QueryError> {
        let range = time_range(request.start_time, request.end_time)?;
        let criteria = criteria(request.filter.as_ref())?;
        let oldest_first = match Order::try_from(request.order) {
            Ok(Order::Unspecified | Order::NewestFirst) => false,
            Ok(Order::OldestFirst) => true,
            Err(_) => return Err(invalid("order", "not an Order")),
        };
        // Tokens are bound to everything but the paging fields.
        let binding = ListEventsRequest {
            page_token: String::new(),
            page_size: 0,
            include_total: false,
            ..request.clone()
        }
        .encode_to_vec();
        Ok(EventListing {
            range,
            criteria,
            oldest_first,
            page: PageAsk {
                size: request.page_size,
                token: request.page_token.clone(),
            },
            include_total: request.include_total,
            binding,
        })
    }
}

impl TryFrom<&AggregateRequest> for AggregateQuery {
    type Error = QueryError;

    fn try_from(request: &AggregateRequest) -> Result<Self, QueryError> {
        let range = time_range(request.start_time, request.end_time)?;
        let criteria = criteria(request.filter.as_ref())?;
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
        Ok(AggregateQuery {
            range,
            criteria,
            grouping,
            limit,
        })
    }
}

/// GetEvent's `event_id`.
pub fn event_id(text: &str) -> Result<Uuid, QueryError> {
    text.parse()
        .map_err(|_| invalid("event_id", "must be a UUID"))
}

/// GetUser's `user_id`: required, no NUL characters.
pub fn user_id(text: &str) -> Result<&str, QueryError> {
    if text.is_empty() {
        return Err(invalid("user_id", "is required"));
    }
    if text.contains('\0') {
        return Err(invalid("user_id", "must not contain NUL characters"));
    }
    Ok(text)
}

/// The wire form of a page of events.
pub fn event_page(page: EventPage) -> ListEventsResponse {
    ListEventsResponse {
        events: page.events.into_iter().map(stored_event).collect(),
        next_page_token: page.next_page_token,
        total: page.total.map(|(count, exact)| Total { count, exact }),
    }
}

/// The wire form of what GetEvent found.
pub fn found_event(found: FoundEvent) -> GetEventResponse {
    match found {
        FoundEvent::Stored(row) => GetEventResponse {
            state: EventState::Stored as i32,
            event: Some(stored_event(row)),
            ..Default::default()
        },
        FoundEvent::Failed(failed) => GetEventResponse {
            state: EventState::Failed as i32,
            event: Some(PbStoredEvent {
                event: Event::decode(failed.payload.as_slice()).ok(),
                receive_time: Some(Timestamp::from(failed.updated_at)),
            }),
            error: failed.error,
            attempts: failed.attempts,
        },
    }
}

/// The wire form of a page of users.
pub fn user_page(page: UserPage) -> ListUsersResponse {
    ListUsersResponse {
        users: page.users.into_iter().map(user).collect(),
        next_page_token: page.next_page_token,
    }
}

/// The wire form of an aggregation.
pub fn aggregation(aggregation: Aggregation) -> AggregateResponse {
    AggregateResponse {
        groups: groups(aggregation.groups, aggregation.grouping),
        source: if aggregation.from_rollups {
            Source::Rollups
        } else {
            Source::Raw
        } as i32,
    }
}

/// The wire form of a project's metrics.
pub fn metrics(metrics: Metrics) -> GetMetricsResponse {
    GetMetricsResponse {
        total_events: metrics.total_events,
        last_hour: metrics.last_hour,
        last_24_hours: metrics.last_24_hours,
        by_service: groups(metrics.by_service, Grouping::Service),
        top_services: groups(metrics.top_services, Grouping::Service),
        by_hour: groups(metrics.by_hour, Grouping::Time(Bucket::Hour)),
    }
}

fn groups(groups: Vec<GroupCount>, grouping: Grouping) -> Vec<Group> {
    groups.into_iter().map(|g| group(g, grouping)).collect()
}

fn group(group: GroupCount, grouping: Grouping) -> Group {
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

/// The wire form of an end user.
pub fn user(user: EndUser) -> User {
    User {
        user_id: user.user_id,
        traits: Some(json_to_struct(&user.traits)),
        first_seen: Some(Timestamp::from(user.first_seen)),
        last_seen: Some(Timestamp::from(user.last_seen)),
        event_count: user.events,
    }
}

/// The wire form of a stored event.
pub fn stored_event(row: StoredEvent) -> PbStoredEvent {
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
