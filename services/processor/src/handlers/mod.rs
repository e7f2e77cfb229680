//! The handler registry (strategy pattern): each event kind has a handler
//! that turns the event into its row, or refuses it with a reason (the event
//! is then dead-lettered and the partition goes on).
//!
//! End users and hourly rollups are derived from the new rows by the insert
//! itself (`boost_storage::events::insert_batch`), so handlers stay pure.
//! Adding a handler is one module here and one `.with(...)` line in
//! [`Registry::standard`].

mod fallback;
mod identify;
mod telemetry;
mod tracking;

use std::{collections::HashMap, sync::Arc, time::SystemTime};

use boost_proto::event_rules::check_kind;
use boost_proto::{
    common::v1::{Event, EventKind},
    json::struct_to_json,
};
use boost_storage::events::StoredEvent;
use uuid::Uuid;

/// One event as read from a record, with what its record says about it.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// The record's project.
    pub project_id: Uuid,
    /// When ingest received the record.
    pub received_at: SystemTime,
    /// The event.
    pub event: &'a Event,
}

/// Turns events of some kinds into rows.
pub trait Handler: Send + Sync {
    /// Name in logs and dead letters.
    fn name(&self) -> &'static str;
    /// The kinds it takes.
    fn kinds(&self) -> &'static [EventKind];
    /// The event's row, or why it cannot be stored.
    fn handle(&self, incoming: Incoming<'_>) -> Result<StoredEvent, String>;
}

/// Finds the handler of each kind; kinds nobody registered go to the fallback.
pub struct Registry {
    /// Handler per `EventKind` number (one handler may serve several kinds).
    by_kind: HashMap<i32, Arc<dyn Handler>>,
    /// For kinds with no handler (e.g. written by a newer ingest).
    fallback: Box<dyn Handler>,
}

impl Registry {
    /// The handlers Boost ships: tracking, identify, telemetry, and the fallback.
    pub fn standard() -> Self {
        Self::new(Box::new(fallback::Fallback))
            .with(tracking::Tracking)
            .with(identify::Identify)
            .with(telemetry::Telemetry)
    }

    /// A registry with only `fallback`.
    pub fn new(fallback: Box<dyn Handler>) -> Self {
        Self {
            by_kind: HashMap::new(),
            fallback,
        }
    }

    /// Registers a handler for every kind it names.
    pub fn with(mut self, handler: impl Handler + 'static) -> Self {
        let handler: Arc<dyn Handler> = Arc::new(handler);
        for kind in handler.kinds() {
            self.by_kind.insert(*kind as i32, handler.clone());
        }
        self
    }

    /// Every handler's name, the fallback's included (each once).
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.by_kind.values().map(|h| h.name()).collect();
        names.push(self.fallback.name());
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The handler for `kind`.
    pub fn handler_for(&self, kind: i32) -> &dyn Handler {
        self.by_kind
            .get(&kind)
            .map_or(self.fallback.as_ref(), |h| h.as_ref())
    }
}

/// The fields every kind shares, read into a row without a telemetry payload.
/// A known kind is checked against the Event contract first, with the same
/// rules ingest applies (a record written around ingest may break them);
/// kinds the fallback stores are not.
pub fn base_row(incoming: Incoming<'_>) -> Result<StoredEvent, String> {
    if let Ok(kind) = EventKind::try_from(incoming.event.kind)
        && kind != EventKind::Unspecified
    {
        check_kind(kind, incoming.event).map_err(|(field, reason)| format!("{field} {reason}"))?;
    }
    let event = incoming.event;
    let event_id = event
        .event_id
        .parse()
        .map_err(|_| format!("event_id {:?} is not a UUID", event.event_id))?;
    let occurred_at = event
        .timestamp
        .and_then(|t| SystemTime::try_from(t).ok())
        .unwrap_or(incoming.received_at);
    Ok(StoredEvent {
        project_id: incoming.project_id,
        event_id,
        kind: i16::try_from(event.kind).map_err(|_| format!("kind {} out of range", event.kind))?,
        event_type: event.r#type.clone(),
        occurred_at,
        received_at: incoming.received_at,
        service: event.service.clone(),
        user_id: event.user_id.clone(),
        properties: event
            .properties
            .as_ref()
            .map(struct_to_json)
            .unwrap_or_else(|| serde_json::json!({})),
        telemetry: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use boost_proto::common::v1::{LogBody, event::Body};

    fn incoming(event: &Event) -> Incoming<'_> {
        Incoming {
            project_id: Uuid::now_v7(),
            received_at: SystemTime::now(),
            event,
        }
    }

    fn event(kind: EventKind) -> Event {
        Event {
            event_id: Uuid::now_v7().to_string(),
            r#type: "t".into(),
            kind: kind as i32,
            ..Default::default()
        }
    }

    #[test]
    fn test_each_kind_finds_its_handler() {
        let registry = Registry::standard();
        let name = |kind: i32| registry.handler_for(kind).name();
        assert_eq!(name(EventKind::Track as i32), "tracking");
        assert_eq!(name(EventKind::Identify as i32), "identify");
        assert_eq!(name(EventKind::Log as i32), "telemetry");
        assert_eq!(name(EventKind::Span as i32), "telemetry");
        assert_eq!(name(99), "fallback");
    }

    #[test]
    fn test_handlers_refuse_what_they_cannot_store() {
        let registry = Registry::standard();
        let refuses = |e: Event| registry.handler_for(e.kind).handle(incoming(&e)).is_err();
        assert!(refuses(event(EventKind::Identify)), "identify without user");
        assert!(refuses(event(EventKind::Log)), "log without body");
        assert!(refuses(Event {
            body: Some(Body::Log(LogBody::default())),
            ..event(EventKind::Track)
        }));
        assert!(refuses(Event {
            event_id: "nope".into(),
            ..event(EventKind::Track)
        }));
        assert!(!refuses(event(EventKind::Track)));
        assert!(
            !refuses(event(EventKind::Unspecified)),
            "fallback stores it"
        );
    }
}
