//! The rules of the `boost.common.v1.Event` contract that hold wherever an
//! event is read: which kind needs which body, what a body's values may be,
//! that IDENTIFY names a user, and the shape of type names and short texts.
//! Ingest applies them before accepting an event (naming the field); the
//! processor's handlers apply the same functions again, defensively, to
//! what the topic holds (a record written around ingest).

use std::time::Duration;

use crate::common::v1::{Event, EventKind, LogBody, MetricBody, Severity, SpanBody, event::Body};

/// Longest event type name.
pub const MAX_TYPE_CHARS: usize = 128;
/// Longest metric unit.
pub const MAX_UNIT_CHARS: usize = 32;
/// Longest span duration.
pub const MAX_SPAN_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Checks what an event of `kind` must carry: a user for IDENTIFY, the
/// body its kind needs (and no other), with valid values. Errors are (field
/// path below the event, reason).
pub fn check_kind(kind: EventKind, event: &Event) -> Result<(), (String, String)> {
    if kind == EventKind::Identify && event.user_id.is_empty() {
        return Err(("user_id".into(), "is required for IDENTIFY".into()));
    }
    check_body(kind, event.body.as_ref())
}

/// The kind an event body stands for (an unset kind follows its body).
pub fn body_kind(body: &Body) -> EventKind {
    match body {
        Body::Log(_) => EventKind::Log,
        Body::Metric(_) => EventKind::Metric,
        Body::Span(_) => EventKind::Span,
    }
}

/// The body field a kind needs, by name.
fn body_field(kind: EventKind) -> Option<&'static str> {
    match kind {
        EventKind::Log => Some("log"),
        EventKind::Metric => Some("metric"),
        EventKind::Span => Some("span"),
        _ => None,
    }
}

/// Checks that the body matches the kind and holds valid values; errors are
/// (field path below the event, reason).
fn check_body(kind: EventKind, body: Option<&Body>) -> Result<(), (String, String)> {
    match (body_field(kind), body) {
        (None, None) => Ok(()),
        (None, Some(body)) => Err((
            body_field(body_kind(body)).unwrap_or("body").to_string(),
            format!("is not allowed on {} events", kind.as_str_name()),
        )),
        (Some(field), body) if body.map(body_kind) != Some(kind) => Err((
            field.to_string(),
            format!("is required for {} events", kind.as_str_name()),
        )),
        (_, Some(Body::Log(log))) => check_log(log),
        (_, Some(Body::Metric(metric))) => check_metric(metric),
        (_, Some(Body::Span(span))) => check_span(span),
        (Some(_), None) => unreachable!("a missing body fails the kind check above"),
    }
}

fn check_log(log: &LogBody) -> Result<(), (String, String)> {
    match Severity::try_from(log.severity) {
        Ok(Severity::Unspecified) | Err(_) => {
            return Err((
                "log.severity".into(),
                "must be one of SEVERITY_TRACE .. SEVERITY_FATAL".into(),
            ));
        }
        Ok(_) => {}
    }
    if log
        .message
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err((
            "log.message".into(),
            "must not contain control characters other than line breaks and tabs".into(),
        ));
    }
    Ok(())
}

fn check_metric(metric: &MetricBody) -> Result<(), (String, String)> {
    check_type(&metric.name).map_err(|r| ("metric.name".to_string(), r))?;
    if !metric.value.is_finite() {
        return Err(("metric.value".into(), "must be a finite number".into()));
    }
    check_text(&metric.unit, MAX_UNIT_CHARS).map_err(|r| ("metric.unit".to_string(), r))
}

fn check_span(span: &SpanBody) -> Result<(), (String, String)> {
    check_hex_id(&span.trace_id, 32).map_err(|r| ("span.trace_id".to_string(), r))?;
    check_hex_id(&span.span_id, 16).map_err(|r| ("span.span_id".to_string(), r))?;
    if !span.parent_span_id.is_empty() {
        check_hex_id(&span.parent_span_id, 16)
            .map_err(|r| ("span.parent_span_id".to_string(), r))?;
    }
    let duration = span
        .duration
        .and_then(|d| Duration::try_from(d).ok())
        .filter(|d| *d <= MAX_SPAN_DURATION);
    if duration.is_none() {
        return Err((
            "span.duration".into(),
            "is required, between 0 and 24 hours".into(),
        ));
    }
    Ok(())
}

/// A W3C trace-context id: `digits` lowercase hex digits, not all zero.
fn check_hex_id(id: &str, digits: usize) -> Result<(), String> {
    let hex = id.len() == digits
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex {
        return Err(format!("must be {digits} lowercase hex digits"));
    }
    if id.bytes().all(|b| b == b'0') {
        return Err("must not be all zeros".into());
    }
    Ok(())
}

/// An event `type` (or metric name): 1–128 letters, digits, spaces (not at
/// the ends) and `_ . : - /`.
pub fn check_type(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is required".into());
    }
    if name.chars().count() > MAX_TYPE_CHARS {
        return Err(format!("longer than {MAX_TYPE_CHARS} characters"));
    }
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-' | '/' | ' ');
    if !name.chars().all(allowed) || name.starts_with(' ') || name.ends_with(' ') {
        return Err("may hold only letters, digits, spaces (not at the ends) and _ . : - /".into());
    }
    Ok(())
}

/// Free text of at most `max_chars` characters without control characters.
pub fn check_text(value: &str, max_chars: usize) -> Result<(), String> {
    if value.chars().count() > max_chars {
        return Err(format!("longer than {max_chars} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_identify_needs_a_user_and_bodies_match_kinds() {
        let identify = Event::default();
        assert_eq!(
            check_kind(EventKind::Identify, &identify)
                .expect_err("no user")
                .0,
            "user_id"
        );
        let log = Event {
            body: Some(Body::Log(LogBody {
                severity: Severity::Info as i32,
                message: "ok".into(),
            })),
            ..Default::default()
        };
        assert_eq!(check_kind(EventKind::Log, &log), Ok(()));
        assert_eq!(
            check_kind(EventKind::Metric, &log)
                .expect_err("wrong body")
                .0,
            "metric"
        );
        assert_eq!(
            check_kind(EventKind::Track, &log)
                .expect_err("body on track")
                .0,
            "log"
        );
        assert_eq!(body_kind(log.body.as_ref().expect("body")), EventKind::Log);
    }

    #[test]
    fn test_type_names_and_texts() {
        assert!(check_type("signup_completed").is_ok());
        assert!(check_type("").is_err());
        assert!(check_type(" padded").is_err());
        assert!(check_text("a\u{7}", 10).is_err());
        assert!(check_text(&"x".repeat(11), 10).is_err());
    }
}
