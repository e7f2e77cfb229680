//! The keyset cursors of the query listings as text, for page tokens
//! ([`boost_server::paging::Pager`] wraps, tags and binds them): an event's
//! `(occurred_at, event_id)` and a user's `(last_seen, user_id)`, times in
//! microseconds since the epoch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use boost_storage::{events::Cursor, users::UserCursor};
use uuid::Uuid;

fn micros(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_else(|e| -(e.duration().as_micros() as i64))
}

fn from_micros(micros: i64) -> SystemTime {
    if micros >= 0 {
        UNIX_EPOCH + Duration::from_micros(micros as u64)
    } else {
        UNIX_EPOCH - Duration::from_micros(micros.unsigned_abs())
    }
}

/// `micros:rest` → (time, rest).
fn split(text: &str) -> Option<(SystemTime, &str)> {
    let (micros, rest) = text.split_once(':')?;
    Some((from_micros(micros.parse().ok()?), rest))
}

/// An event cursor as text.
pub fn event_text(cursor: &Cursor) -> String {
    format!("{}:{}", micros(cursor.occurred_at), cursor.event_id)
}

/// The event cursor in `text`; `None` when it is not one.
pub fn event(text: &str) -> Option<Cursor> {
    let (occurred_at, id) = split(text)?;
    Some(Cursor {
        occurred_at,
        event_id: id.parse::<Uuid>().ok()?,
    })
}

/// A user cursor as text (the user id may hold any character).
pub fn user_text(cursor: &UserCursor) -> String {
    format!("{}:{}", micros(cursor.0), cursor.1)
}

/// The user cursor in `text`; `None` when it is not one.
pub fn user(text: &str) -> Option<UserCursor> {
    let (last_seen, id) = split(text)?;
    Some((last_seen, id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_round_trip() {
        let c = Cursor {
            occurred_at: UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456),
            event_id: Uuid::now_v7(),
        };
        assert_eq!(event(&event_text(&c)), Some(c));
        let u = (UNIX_EPOCH - Duration::from_secs(5), "a:b|c".to_string());
        assert_eq!(user(&user_text(&u)), Some(u));
    }

    #[test]
    fn test_garbage_is_refused() {
        assert_eq!(event("not a cursor"), None);
        assert_eq!(event("12:not-a-uuid"), None);
        assert_eq!(user("x:y"), None);
    }
}
