//! Events with client-made UUIDv7 ids, so a retried batch is deduplicated by
//! the server, and the time they happened.

use std::time::SystemTime;

use boost_proto::{
    common::v1::{Event, EventKind},
    json::json_to_struct,
    prost_types::Timestamp,
};

/// An event of `kind` named `event_type`, with a new UUIDv7 id and now as its
/// time; set the other fields on the result.
pub fn new_event(kind: EventKind, event_type: &str, properties: serde_json::Value) -> Event {
    Event {
        event_id: uuid::Uuid::now_v7().to_string(),
        r#type: event_type.to_string(),
        kind: kind as i32,
        timestamp: Some(Timestamp::from(SystemTime::now())),
        properties: Some(json_to_struct(&properties)),
        ..Default::default()
    }
}
