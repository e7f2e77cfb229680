//! The events topic's record format: an `EventBatchRecord` protobuf as the
//! value, the project id as the key, and the W3C trace context of the
//! requests it holds in its headers. Ingest encodes, processor decodes.

use std::collections::BTreeMap;

use boost_proto::common::v1::EventBatchRecord;
use boost_server::trace_context::{self, TRACEPARENT, TraceHeaders};
use opentelemetry::{Context, trace::TraceContextExt};
use prost::Message;
use rskafka::{chrono::DateTime, record::Record};

/// Record header naming the value's encoding, so the format can evolve.
pub const CONTENT_TYPE_HEADER: &str = "content-type";
/// The only encoding written today.
pub const CONTENT_TYPE: &[u8] = b"application/x-protobuf; message=boost.common.v1.EventBatchRecord";

/// Header holding the `traceparent`s of the other sampled requests merged
/// into a record (comma-separated); the record's own `traceparent` and
/// `tracestate` headers are its first request's.
pub const TRACE_LINKS_HEADER: &str = "boost-trace-links";
/// At most this many requests are named in [`TRACE_LINKS_HEADER`], so a
/// record merged from many sampled calls stays small.
pub const MAX_TRACE_LINKS: usize = 32;

/// Builds the Kafka record for a batch of one project's events, merged from
/// requests whose trace contexts are `traces` (in order; empty when untraced).
pub fn encode(batch: &EventBatchRecord, traces: &[TraceHeaders]) -> Record {
    let mut headers = BTreeMap::new();
    headers.insert(CONTENT_TYPE_HEADER.to_string(), CONTENT_TYPE.to_vec());
    let mut traces = traces.iter().filter(|trace| !trace.is_empty());
    if let Some(first) = traces.next() {
        for (name, value) in first {
            headers.insert(name.clone(), value.clone().into_bytes());
        }
    }
    let links: Vec<&str> = traces
        .filter_map(|trace| {
            let (_, parent) = trace.iter().find(|(name, _)| name == TRACEPARENT)?;
            let sampled = trace_context::from_pairs([(TRACEPARENT, parent.as_bytes())])
                .span()
                .span_context()
                .is_sampled();
            sampled.then_some(parent.as_str())
        })
        .take(MAX_TRACE_LINKS)
        .collect();
    if !links.is_empty() {
        headers.insert(TRACE_LINKS_HEADER.to_string(), links.join(",").into_bytes());
    }
    Record {
        key: Some(batch.project_id.as_bytes().to_vec()),
        value: Some(batch.encode_to_vec()),
        headers,
        timestamp: now(),
    }
}

/// The current time as the record timestamp (chrono's clock feature is off).
fn now() -> DateTime<rskafka::chrono::Utc> {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

/// The trace contexts a record carries: its own first (from `traceparent`
/// and `tracestate`), then each linked request's; none when untraced.
pub fn trace_contexts(record: &Record) -> Vec<Context> {
    let own = trace_context::from_pairs(
        record
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_slice())),
    );
    let linked = record
        .headers
        .get(TRACE_LINKS_HEADER)
        .and_then(|value| std::str::from_utf8(value).ok())
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(|parent| trace_context::from_pairs([(TRACEPARENT, parent.as_bytes())]));
    std::iter::once(own)
        .chain(linked)
        .filter(|context| context.span().span_context().is_valid())
        .collect()
}

/// Why a record could not be read as an event batch.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The record has no value.
    #[error("record has no value")]
    Empty,
    /// The value is not an `EventBatchRecord`.
    #[error("record value is not an EventBatchRecord")]
    Protobuf(#[from] prost::DecodeError),
}

/// Reads a record written by [`encode`].
pub fn decode(record: &Record) -> Result<EventBatchRecord, DecodeError> {
    let value = record.value.as_deref().ok_or(DecodeError::Empty)?;
    Ok(EventBatchRecord::decode(value)?)
}

/// SHA-256 of a record's value: what the processor stores beside its
/// offset, so a later start can check that the broker still holds the same
/// record there (a reset broker's new log does not).
pub fn digest(record: &Record) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(record.value.as_deref().unwrap_or_default()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use boost_proto::common::v1::Event;

    #[test]
    fn test_round_trip() {
        let batch = EventBatchRecord {
            project_id: "p1".into(),
            events: vec![Event {
                event_id: "e1".into(),
                r#type: "signup".into(),
                ..Default::default()
            }],
            receive_time: None,
        };
        let record = encode(&batch, &[]);
        assert_eq!(record.key.as_deref(), Some(b"p1".as_slice()));
        assert_eq!(decode(&record).expect("decodes"), batch);
    }

    #[test]
    fn test_garbage_is_an_error() {
        let mut record = encode(&EventBatchRecord::default(), &[]);
        record.value = Some(vec![0xff, 0xff, 0xff]);
        assert!(decode(&record).is_err());
        record.value = None;
        assert!(matches!(decode(&record), Err(DecodeError::Empty)));
    }

    fn parent(trace: char, flags: &str) -> TraceHeaders {
        let id: String = std::iter::repeat_n(trace, 32).collect();
        vec![(
            TRACEPARENT.into(),
            format!("00-{id}-00f067aa0ba902b7-{flags}"),
        )]
    }

    #[test]
    fn test_merged_requests_keep_their_trace_contexts() {
        let mut first = parent('a', "01");
        first.push(("tracestate".into(), "vendor=x".into()));
        let traces = [
            first,
            TraceHeaders::new(),
            parent('b', "00"),
            parent('c', "01"),
        ];
        let record = encode(&EventBatchRecord::default(), &traces);
        assert_eq!(
            record.headers.get("tracestate").map(Vec::as_slice),
            Some(b"vendor=x".as_slice())
        );
        let traced: Vec<String> = trace_contexts(&record)
            .iter()
            .map(|c| c.span().span_context().trace_id().to_string())
            .collect();
        // The first request's context, then only the sampled others.
        assert_eq!(traced, ["a".repeat(32), "c".repeat(32)]);
        let untraced = encode(&EventBatchRecord::default(), &[TraceHeaders::new()]);
        assert!(trace_contexts(&untraced).is_empty());
    }
}
