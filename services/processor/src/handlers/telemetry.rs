//! LOG, METRIC and SPAN: the body goes into typed columns.

use std::time::Duration;

use boost_proto::common::v1::{EventKind, event::Body};
use boost_storage::events::{StoredEvent, Telemetry as Payload};

use super::{Handler, Incoming, base_row};

/// Stores telemetry events.
pub struct Telemetry;

impl Handler for Telemetry {
    fn name(&self) -> &'static str {
        "telemetry"
    }

    fn kinds(&self) -> &'static [EventKind] {
        &[EventKind::Log, EventKind::Metric, EventKind::Span]
    }

    fn handle(&self, incoming: Incoming<'_>) -> Result<StoredEvent, String> {
        let kind = EventKind::try_from(incoming.event.kind).unwrap_or_default();
        let body = incoming
            .event
            .body
            .as_ref()
            .ok_or_else(|| format!("a {} event needs its body", kind.as_str_name()))?;
        let payload = payload(kind, body)?;
        let mut row = base_row(incoming)?;
        row.telemetry = Some(payload);
        Ok(row)
    }
}

/// The storage form of a body that matches `kind`.
fn payload(kind: EventKind, body: &Body) -> Result<Payload, String> {
    Ok(match (kind, body) {
        (EventKind::Log, Body::Log(log)) => Payload::Log {
            severity: i16::try_from(log.severity)
                .map_err(|_| format!("severity {} out of range", log.severity))?,
            message: log.message.clone(),
        },
        (EventKind::Metric, Body::Metric(metric)) => Payload::Metric {
            name: metric.name.clone(),
            value: metric.value,
            unit: metric.unit.clone(),
        },
        (EventKind::Span, Body::Span(span)) => {
            let duration = span
                .duration
                .and_then(|d| Duration::try_from(d).ok())
                .ok_or("span duration missing or negative")?;
            Payload::Span {
                trace_id: span.trace_id.clone(),
                span_id: span.span_id.clone(),
                parent_span_id: (!span.parent_span_id.is_empty())
                    .then(|| span.parent_span_id.clone()),
                duration_us: i64::try_from(duration.as_micros())
                    .map_err(|_| "span duration out of range")?,
                error: span.error,
            }
        }
        _ => {
            return Err(format!(
                "the body does not match kind {}",
                kind.as_str_name()
            ));
        }
    })
}
