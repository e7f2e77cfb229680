//! Ingest's event validation over any bytes that decode as an Event: it
//! answers Ok or a field error, never panics, and what it accepts stays
//! within the limits it enforces.
#![no_main]

use boost_ingest::validate::{ANY_KIND, Limits, validate_event};
use boost_proto::{common::v1::Event, prost::Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = Event::decode(data) else {
        return;
    };
    let limits = Limits::default();
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
    if let Ok(valid) = validate_event(event, ANY_KIND, &limits, now, "event") {
        assert!(!valid.event_id.is_empty(), "accepted without an id");
        assert!(!valid.r#type.contains('\0'), "NUL accepted in type");
    }
});
