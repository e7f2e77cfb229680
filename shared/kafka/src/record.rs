//! The events topic's record format: an `EventBatchRecord` protobuf as the
//! value, the project id as the key. Ingest encodes, processor decodes.

use std::collections::BTreeMap;

use boost_proto::common::v1::EventBatchRecord;
use prost::Message;
use rskafka::{chrono::DateTime, record::Record};

/// Record header naming the value's encoding, so the format can evolve.
pub const CONTENT_TYPE_HEADER: &str = "content-type";
/// The only encoding written today.
pub const CONTENT_TYPE: &[u8] = b"application/x-protobuf; message=boost.common.v1.EventBatchRecord";

/// Builds the Kafka record for a batch of one project's events.
pub fn encode(batch: &EventBatchRecord) -> Record {
    let mut headers = BTreeMap::new();
    headers.insert(CONTENT_TYPE_HEADER.to_string(), CONTENT_TYPE.to_vec());
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
        let record = encode(&batch);
        assert_eq!(record.key.as_deref(), Some(b"p1".as_slice()));
        assert_eq!(decode(&record).expect("decodes"), batch);
    }

    #[test]
    fn test_garbage_is_an_error() {
        let mut record = encode(&EventBatchRecord::default());
        record.value = Some(vec![0xff, 0xff, 0xff]);
        assert!(decode(&record).is_err());
        record.value = None;
        assert!(matches!(decode(&record), Err(DecodeError::Empty)));
    }
}
