//! Opaque page tokens: the keyset cursor of the last row returned, tagged
//! with what it pages through (events newest or oldest first, users) and
//! bound to the project and query it was made for, base64url-encoded so
//! clients treat it as a blob. A token used with another listing, order,
//! project or filter is refused.

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
            Listing::EventsNewestFirst => "e3n",
            Listing::EventsOldestFirst => "e3o",
            Listing::Users => "u2",
        }
    }
}

/// What a token is valid for: a digest of the project and the query's own
/// fields (filter, time range, order; not the page size), so a token is
/// refused by another project's key or with another filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding([u8; 8]);

impl Binding {
    /// The binding of `query` (its encoded fields) in `project`.
    pub fn new(project: Uuid, query: &[u8]) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::new()
            .chain_update(project.as_bytes())
            .chain_update(query)
            .finalize();
        let mut bytes = [0; 8];
        bytes.copy_from_slice(&digest[..8]);
        Self(bytes)
    }

    fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
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

fn encode(listing: Listing, binding: Binding, micros: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}:{micros}:{id}", listing.tag(), binding.hex()))
}

/// (time, id) from a token of `listing` made under `binding`; `None` when
/// it is not one.
fn decode(listing: Listing, binding: Binding, token: &str) -> Option<(SystemTime, String)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let mut parts = raw.splitn(4, ':');
    if parts.next()? != listing.tag() || parts.next()? != binding.hex() {
        return None;
    }
    let micros: i64 = parts.next()?.parse().ok()?;
    Some((from_micros(micros), parts.next()?.to_string()))
}

/// Token for the page after an event.
pub fn encode_event(listing: Listing, binding: Binding, cursor: &Cursor) -> String {
    encode(
        listing,
        binding,
        micros(cursor.occurred_at),
        &cursor.event_id.to_string(),
    )
}

/// The event cursor in a token of `listing` made under `binding`.
pub fn decode_event(listing: Listing, binding: Binding, token: &str) -> Option<Cursor> {
    let (occurred_at, id) = decode(listing, binding, token)?;
    Some(Cursor {
        occurred_at,
        event_id: id.parse::<Uuid>().ok()?,
    })
}

/// Token for the page after a user.
pub fn encode_user(binding: Binding, cursor: &UserCursor) -> String {
    encode(Listing::Users, binding, micros(cursor.0), &cursor.1)
}

/// The user cursor in a ListUsers token made under `binding`.
pub fn decode_user(binding: Binding, token: &str) -> Option<UserCursor> {
    decode(Listing::Users, binding, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding() -> Binding {
        Binding::new(Uuid::nil(), b"filter")
    }

    #[test]
    fn test_round_trip() {
        let c = Cursor {
            occurred_at: UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456),
            event_id: Uuid::now_v7(),
        };
        let token = encode_event(Listing::EventsNewestFirst, binding(), &c);
        assert_eq!(
            decode_event(Listing::EventsNewestFirst, binding(), &token),
            Some(c)
        );
        let user = (UNIX_EPOCH + Duration::from_secs(5), "a:b:c".to_string());
        assert_eq!(
            decode_user(binding(), &encode_user(binding(), &user)),
            Some(user)
        );
    }

    #[test]
    fn test_token_of_another_listing_is_refused() {
        let c = Cursor {
            occurred_at: UNIX_EPOCH,
            event_id: Uuid::now_v7(),
        };
        let token = encode_event(Listing::EventsNewestFirst, binding(), &c);
        assert_eq!(
            decode_event(Listing::EventsOldestFirst, binding(), &token),
            None
        );
        assert_eq!(decode_user(binding(), &token), None);
    }

    #[test]
    fn test_token_of_another_project_or_filter_is_refused() {
        let c = Cursor {
            occurred_at: UNIX_EPOCH,
            event_id: Uuid::now_v7(),
        };
        let token = encode_event(Listing::EventsNewestFirst, binding(), &c);
        let other_project = Binding::new(Uuid::now_v7(), b"filter");
        let other_filter = Binding::new(Uuid::nil(), b"other filter");
        assert_eq!(
            decode_event(Listing::EventsNewestFirst, other_project, &token),
            None
        );
        assert_eq!(
            decode_event(Listing::EventsNewestFirst, other_filter, &token),
            None
        );
    }

    #[test]
    fn test_garbage_is_refused() {
        assert_eq!(
            decode_event(Listing::EventsNewestFirst, binding(), "not a token"),
            None
        );
        assert_eq!(
            decode_event(
                Listing::EventsNewestFirst,
                binding(),
                &URL_SAFE_NO_PAD.encode("v9:1:x")
            ),
            None
        );
    }
}
