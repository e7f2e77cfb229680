//! Kinds no handler claims (say, written by a newer ingest): stored with
//! their kind number and common fields (any body is not kept), so the event
//! is not lost before a handler exists.

use boost_proto::common::v1::EventKind;
use boost_storage::events::StoredEvent;

use super::{Handler, Incoming, base_row};

/// Stores events of unclaimed kinds as they are.
pub struct Fallback;

impl Handler for Fallback {
    fn name(&self) -> &'static str {
        "fallback"
    }

    fn kinds(&self) -> &'static [EventKind] {
        &[]
    }

    fn handle(&self, incoming: Incoming<'_>) -> Result<StoredEvent, String> {
        base_row(incoming)
    }
}
