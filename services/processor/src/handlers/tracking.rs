//! TRACK: product events, stored as they came.

use boost_proto::common::v1::EventKind;
use boost_storage::events::StoredEvent;

use super::{Handler, Incoming, base_row};

/// Stores product events.
pub struct Tracking;

impl Handler for Tracking {
    fn name(&self) -> &'static str {
        "tracking"
    }

    fn kinds(&self) -> &'static [EventKind] {
        &[EventKind::Track]
    }

    fn handle(&self, incoming: Incoming<'_>) -> Result<StoredEvent, String> {
        base_row(incoming)
    }
}
