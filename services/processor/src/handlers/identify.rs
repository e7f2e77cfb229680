//! IDENTIFY: user traits. The row's properties are the traits; the insert
//! merges them into the end user.

use boost_proto::common::v1::EventKind;
use boost_storage::events::StoredEvent;

use super::{Handler, Incoming, base_row};

/// Stores identify events.
pub struct Identify;

impl Handler for Identify {
    fn name(&self) -> &'static str {
        "identify"
    }

    fn kinds(&self) -> &'static [EventKind] {
        &[EventKind::Identify]
    }

    fn handle(&self, incoming: Incoming<'_>) -> Result<StoredEvent, String> {
        base_row(incoming)
    }
}
