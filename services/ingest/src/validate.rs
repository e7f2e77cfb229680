//! Event validation: everything is checked before any work is done, and each
//! failure names the field.

use std::time::{Duration, SystemTime};

use boost_proto::{
    common::v1::{Event, EventKind},
    event_rules::{body_kind, check_kind, check_text, check_type},
    json::{struct_depth, struct_unstorable},
    prost_types::Timestamp,
};
use boost_server::config::parse_millis;
use prost::Message;
use uuid::Uuid;

/// Published limits on one event (README, "Limits").
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// Largest encoded event (bytes).
    #[arg(long = "max-event-bytes", env = "BOOST_INGEST_MAX_EVENT_BYTES", default_value_t = 32 * 1024)]
    pub max_event_bytes: usize,
    /// Deepest nesting of `properties` (a flat object is 1).
    #[arg(
        long = "max-property-depth",
        env = "BOOST_INGEST_MAX_PROPERTY_DEPTH",
        default_value_t = 8
    )]
    pub max_property_depth: usize,
    /// Most top-level keys in `properties`.
    #[arg(
        long = "max-properties",
        env = "BOOST_INGEST_MAX_PROPERTIES",
        default_value_t = 256
    )]
    pub max_properties: usize,
    /// How far in the future an event timestamp may be (ms).
    #[arg(long = "max-future-skew-ms", env = "BOOST_INGEST_MAX_FUTURE_SKEW_MS", default_value = "300000", value_parser = parse_millis)]
    pub max_future_skew: Duration,
    /// How old an event timestamp may be (ms); default 30 days, the retention period.
    #[arg(long = "max-event-age-ms", env = "BOOST_INGEST_MAX_EVENT_AGE_MS", default_value = "2592000000", value_parser = parse_millis)]
    pub max_event_age: Duration,
    /// Most events in one IngestBatch.
    #[arg(
        long = "max-batch-events",
        env = "BOOST_INGEST_MAX_BATCH_EVENTS",
        default_value_t = 1000
    )]
    pub max_batch_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        boost_server::config::defaults()
    }
}

impl Limits {
    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_event_bytes < 256 {
            return Err("BOOST_INGEST_MAX_EVENT_BYTES must be at least 256".into());
        }
        if self.max_property_depth == 0 || self.max_property_depth > 32 {
            return Err("BOOST_INGEST_MAX_PROPERTY_DEPTH must be between 1 and 32".into());
        }
        if !(1..=10_000).contains(&self.max_batch_events) {
            return Err("BOOST_INGEST_MAX_BATCH_EVENTS must be between 1 and 10000".into());
        }
        Ok(())
    }
}

/// Longest service name.
pub const MAX_SERVICE_CHARS: usize = 128;
/// Longest end-user id.
pub const MAX_USER_ID_CHARS: usize = 256;

/// A field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct FieldError {
    /// Field path from the request root, e.g. `event.type`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

fn field_error(prefix: &str, field: &str, reason: impl Into<String>) -> FieldError {
    FieldError {
        field: format!("{prefix}.{field}"),
        reason: reason.into(),
    }
}

/// Which kinds an RPC takes, and the kind of an event that names none.
#[derive(Debug, Clone, Copy)]
pub struct KindRule {
    /// Kind given to events with EVENT_KIND_UNSPECIFIED.
    pub default: EventKind,
    /// Kinds accepted.
    pub allowed: &'static [EventKind],
}

/// Track: product events only.
pub const TRACK: KindRule = KindRule {
    default: EventKind::Track,
    allowed: &[EventKind::Track],
};
/// Identify: user traits only.
pub const IDENTIFY: KindRule = KindRule {
    default: EventKind::Identify,
    allowed: &[EventKind::Identify],
};
/// IngestBatch and IngestStream: any kind.
pub const ANY_KIND: KindRule = KindRule {
    default: EventKind::Track,
    allowed: &[
        EventKind::Track,
        EventKind::Identify,
        EventKind::Log,
        EventKind::Metric,
        EventKind::Span,
    ],
};

/// A client-chosen event id in the one form Boost stores and dedups it by
/// (a lowercase hyphenated UUID), or why it is refused.
pub fn canonical_event_id(raw: &str) -> Result<String, &'static str> {
    let id: Uuid = raw
        .parse()
        .map_err(|_| "must be a UUID (UUIDv7 recommended)")?;
    if id.is_nil() {
        return Err("must not be the nil UUID");
    }
    Ok(id.to_string())
}

/// Checks `event` (found at field path `prefix`) and fills in what the server
/// assigns: a UUIDv7 event_id when empty, the receive time when the timestamp
/// is unset, and the kind implied by the body or else by the RPC.
pub fn validate_event(
    mut event: Event,
    rule: KindRule,
    limits: &Limits,
    now: SystemTime,
    prefix: &str,
) -> Result<Event, FieldError> {
    let encoded = event.encoded_len();
    if encoded > limits.max_event_bytes {
        return Err(field_error(
            prefix,
            "",
            format!(
                "event is {encoded} bytes; the limit is {}",
                limits.max_event_bytes
            ),
        )
        .trim_field());
    }
    if event.event_id.is_empty() {
        event.event_id = Uuid::now_v7().to_string();
    } else {
        event.event_id =
            canonical_event_id(&event.event_id).map_err(|r| field_error(prefix, "event_id", r))?;
    }
    check_type(&event.r#type).map_err(|r| field_error(prefix, "type", r))?;
    check_text(&event.service, MAX_SERVICE_CHARS).map_err(|r| field_error(prefix, "service", r))?;
    check_text(&event.user_id, MAX_USER_ID_CHARS).map_err(|r| field_error(prefix, "user_id", r))?;
    event.timestamp = Some(
        check_timestamp(event.timestamp, limits, now)
            .map_err(|r| field_error(prefix, "timestamp", r))?,
    );
    if let Some(properties) = &event.properties {
        if properties.fields.len() > limits.max_properties {
            return Err(field_error(
                prefix,
                "properties",
                format!(
                    "{} keys; the limit is {}",
                    properties.fields.len(),
                    limits.max_properties
                ),
            ));
        }
        if let Some(reason) = struct_unstorable(properties) {
            return Err(field_error(prefix, "properties", reason));
        }
        let depth = struct_depth(properties);
        if depth > limits.max_property_depth {
            return Err(field_error(
                prefix,
                "properties",
                format!(
                    "nested {depth} levels deep; the limit is {}",
                    limits.max_property_depth
                ),
            ));
        }
    }
    let kind = match EventKind::try_from(event.kind) {
        Ok(EventKind::Unspecified) => event.body.as_ref().map_or(rule.default, body_kind),
        Ok(k) => k,
        Err(_) => EventKind::Unspecified,
    };
    if !rule.allowed.contains(&kind) {
        let allowed: Vec<&str> = rule.allowed.iter().map(|k| k.as_str_name()).collect();
        return Err(field_error(
            prefix,
            "kind",
            format!("must be unset or one of {}", allowed.join(", ")),
        ));
    }
    check_kind(kind, &event).map_err(|(field, reason)| field_error(prefix, &field, reason))?;
    event.kind = kind as i32;
    Ok(event)
}

impl FieldError {
    /// Drops the trailing dot left by an error about the whole message.
    fn trim_field(mut self) -> Self {
        self.field = self.field.trim_end_matches('.').to_string();
        self
    }
}

fn check_timestamp(
    timestamp: Option<Timestamp>,
    limits: &Limits,
    now: SystemTime,
) -> Result<Timestamp, String> {
    let Some(timestamp) = timestamp else {
        return Ok(Timestamp::from(now));
    };
    let time = boost_proto::time::checked(&timestamp)?;
    if time > now + limits.max_future_skew {
        return Err(format!(
            "is more than {}s in the future",
            limits.max_future_skew.as_secs()
        ));
    }
    if time + limits.max_event_age < now {
        return Err(format!(
            "is more than {}h old",
            limits.max_event_age.as_secs() / 3600
        ));
    }
    Ok(timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use boost_proto::common::v1::{LogBody, MetricBody, Severity, SpanBody, event::Body};

    fn event() -> Event {
        Event {
            r#type: "signup_completed".into(),
            ..Default::default()
        }
    }

    fn check(e: Event) -> Result<Event, FieldError> {
        validate_event(e, TRACK, &Limits::default(), SystemTime::now(), "event")
    }

    #[test]
    fn test_fills_in_id_timestamp_and_kind() {
        let e = check(event()).expect("valid");
        assert!(e.event_id.parse::<Uuid>().is_ok());
        assert!(e.timestamp.is_some());
        assert_eq!(e.kind, EventKind::Track as i32);
    }

    #[test]
    fn test_missing_type_names_field() {
        let err = check(Event::default()).expect_err("invalid");
        assert_eq!(err.field, "event.type");
    }

    #[test]
    fn test_bad_event_id_names_field() {
        let err = check(Event {
            event_id: "nope".into(),
            ..event()
        })
        .expect_err("invalid");
        assert_eq!(err.field, "event.event_id");
    }

    #[test]
    fn test_control_characters_refused() {
        let err = check(Event {
            user_id: "a\u{0}b".into(),
            ..event()
        })
        .expect_err("invalid");
        assert_eq!(err.field, "event.user_id");
    }

    #[test]
    fn test_future_timestamp_refused() {
        let future = SystemTime::now() + Duration::from_secs(3600);
        let err = check(Event {
            timestamp: Some(future.into()),
            ..event()
        })
        .expect_err("invalid");
        assert_eq!(err.field, "event.timestamp");
    }

    #[test]
    fn test_deep_properties_refused() {
        let err = check(Event {
            properties: Some(nested_struct(10)),
            ..event()
        })
        .expect_err("invalid");
        assert_eq!(err.field, "event.properties");
    }

    #[test]
    fn test_oversized_event_refused() {
        let big = Event {
            service: "x".repeat(100),
            user_id: "y".repeat(200),
            r#type: "t".into(),
            properties: Some(big_struct(40_000)),
            ..Default::default()
        };
        let err = check(big).expect_err("invalid");
        assert_eq!(err.field, "event");
    }

    #[test]
    fn test_identify_needs_a_user() {
        let e = Event {
            kind: EventKind::Identify as i32,
            ..event()
        };
        let err = validate_event(
            e.clone(),
            ANY_KIND,
            &Limits::default(),
            SystemTime::now(),
            "events[3]",
        )
        .expect_err("no user");
        assert_eq!(err.field, "events[3].user_id");
        let ok = validate_event(
            Event {
                user_id: "u1".into(),
                ..e
            },
            ANY_KIND,
            &Limits::default(),
            SystemTime::now(),
            "events[3]",
        );
        assert_eq!(ok.expect("valid").kind, EventKind::Identify as i32);
    }

    #[test]
    fn test_wrong_kind_refused() {
        let err = check(Event {
            kind: EventKind::Log as i32,
            ..event()
        })
        .expect_err("invalid");
        assert_eq!(err.field, "event.kind");
    }

    fn batch(e: Event) -> Result<Event, FieldError> {
        validate_event(
            e,
            ANY_KIND,
            &Limits::default(),
            SystemTime::now(),
            "events[0]",
        )
    }

    fn span() -> SpanBody {
        SpanBody {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            span_id: "00f067aa0ba902b7".into(),
            duration: Some(boost_proto::prost_types::Duration {
                seconds: 0,
                nanos: 1_500_000,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn test_body_implies_kind() {
        let log = batch(Event {
            body: Some(Body::Log(LogBody {
                severity: Severity::Error as i32,
                message: "disk full\n  at write()".into(),
            })),
            ..event()
        })
        .expect("valid log");
        assert_eq!(log.kind, EventKind::Log as i32);
        let span = batch(Event {
            body: Some(Body::Span(span())),
            ..event()
        })
        .expect("valid span");
        assert_eq!(span.kind, EventKind::Span as i32);
    }

    #[test]
    fn test_telemetry_fields_named() {
        let cases = [
            (
                Event {
                    kind: EventKind::Log as i32,
                    ..event()
                },
                "events[0].log",
            ),
            (
                Event {
                    body: Some(Body::Log(LogBody::default())),
                    ..event()
                },
                "events[0].log.severity",
            ),
            (
                Event {
                    body: Some(Body::Metric(MetricBody {
                        name: "latency".into(),
                        value: f64::NAN,
                        unit: "ms".into(),
                    })),
                    ..event()
                },
                "events[0].metric.value",
            ),
            (
                Event {
                    body: Some(Body::Metric(MetricBody::default())),
                    ..event()
                },
                "events[0].metric.name",
            ),
            (
                Event {
                    body: Some(Body::Span(SpanBody {
                        trace_id: "0".repeat(32),
                        ..span()
                    })),
                    ..event()
                },
                "events[0].span.trace_id",
            ),
            (
                Event {
                    body: Some(Body::Span(SpanBody {
                        parent_span_id: "XYZ".into(),
                        ..span()
                    })),
                    ..event()
                },
                "events[0].span.parent_span_id",
            ),
            (
                Event {
                    body: Some(Body::Span(SpanBody {
                        duration: None,
                        ..span()
                    })),
                    ..event()
                },
                "events[0].span.duration",
            ),
            (
                Event {
                    kind: EventKind::Track as i32,
                    body: Some(Body::Span(span())),
                    ..event()
                },
                "events[0].span",
            ),
        ];
        for (e, field) in cases {
            assert_eq!(batch(e).expect_err(field).field, field);
        }
    }

    #[test]
    fn test_nul_in_properties_refused() {
        let properties = boost_proto::json::json_to_struct(&serde_json::json!({"a": "x\u{0}"}));
        let err = check(Event {
            properties: Some(properties),
            ..event()
        })
        .expect_err("invalid");
        assert_eq!(err.field, "event.properties");
    }

    fn nested_struct(depth: usize) -> boost_proto::prost_types::Struct {
        let mut value = boost_proto::prost_types::Struct::default();
        for _ in 0..depth {
            let mut outer = boost_proto::prost_types::Struct::default();
            outer.fields.insert(
                "a".into(),
                boost_proto::prost_types::Value {
                    kind: Some(boost_proto::prost_types::value::Kind::StructValue(value)),
                },
            );
            value = outer;
        }
        value
    }

    fn big_struct(bytes: usize) -> boost_proto::prost_types::Struct {
        let mut value = boost_proto::prost_types::Struct::default();
        value.fields.insert(
            "blob".into(),
            boost_proto::prost_types::Value {
                kind: Some(boost_proto::prost_types::value::Kind::StringValue(
                    "z".repeat(bytes),
                )),
            },
        );
        value
    }
}
