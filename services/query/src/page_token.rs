//! Opaque page tokens: the keyset cursor of the last row returned, tagged
//! with what it pages through (events newest or oldest first, users), and
//! base64url-encoded so clients treat it as a blob. A token used with
//! another listing or order is refused.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use boost_storage::{events::Cursor, users::UserCursor};
use uuid::Uuid;

/// What a token pages through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// ListEvents, newest first.
    EventsNewestFirst,
    /// ListEvents, oldest first.
    EventsOldestFirst,
    /// ListUsers.
    Users,
}

impl Listing {
    fn tag(self) -> &'static str {
        match self {
            Listing::EventsNewestFirst => "e2n",
            Listing::EventsOldestFirst => "e2o",
            Listing::Users => "u1",
        }
    }
}

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

fn encode(listing: Listing, micros: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{micros}:{id}", listing.tag()))
}

/// (time, id) from a token of `listing`; `None` when it is not one.
fn decode(listing: Listing, token: &str) -> Option<(SystemTime, String)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let mut parts = raw.splitn(3, ':');
    if parts.next()? != listing.tag() {
        return None;
    }
    let micros: i64 = parts.next()?.parse().ok()?;
    Some((from_micros(micros), parts.next()?.to_string()))
}

/// Token for the page after an event.
pub fn encode_event(listing: Listing, cursor: &Cursor) -> String {
    encode(
        listing,
        micros(cursor.occurred_at),
        &cursor.event_id.to_string(),
    )
}

/// The event cursor in a token of `listing`.
pub fn decode_event(listing: Listing, token: &str) -> Option<Cursor> {
    let (occurred_at, id) = decode(listing, token)?;
    Some(Cursor {
        occurred_at,
        event_id: id.parse::<Uuid>().ok()?,
    })
}

/// Token for the page after a user.
pub fn encode_user(cursor: &UserCursor) -> String {
    encode(Listing::Users, micros(cursor.0), &cursor.1)
}

/// The user cursor in a ListUsers token.
pub fn decode_user(token: &str) -> Option<UserCursor> {
    decode(Listing::Users, token)
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
        let token = encode_event(Listing::EventsNewestFirst, &c);
        assert_eq!(decode_event(Listing::EventsNewestFirst, &token), Some(c));
        let user = (UNIX_EPOCH + Duration::from_secs(5), "a:b:c".to_string());
        assert_eq!(decode_user(&encode_user(&user)), Some(user));
    }

    #[test]
    fn test_token_of_another_listing_is_refused() {
        let c = Cursor {
            occurred_at: UNIX_EPOCH,
            event_id: Uuid::now_v7(),
        };
        let token = encode_event(Listing::EventsNewestFirst, &c);
        assert_eq!(decode_event(Listing::EventsOldestFirst, &token), None);
        assert_eq!(decode_user(&token), None);
    }

    #[test]
    fn test_garbage_is_refused() {
        assert_eq!(
            decode_event(Listing::EventsNewestFirst, "not a token"),
            None
        );
        assert_eq!(
            decode_event(
                Listing::EventsNewestFirst,
                &URL_SAFE_NO_PAD.encode("v9:1:x")
            ),
            None
        );
    }
}
