//! Opaque page tokens: the keyset cursor (last row's time and id), versioned
//! and base64url-encoded so clients treat it as a blob.

use std::time::{Duration, UNIX_EPOCH};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use boost_storage::events::Cursor;
use uuid::Uuid;

const VERSION: &str = "v1";

/// Encodes a cursor as a page token.
pub fn encode(cursor: &Cursor) -> String {
    let micros = cursor
        .occurred_at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_else(|e| -(e.duration().as_micros() as i64));
    URL_SAFE_NO_PAD.encode(format!("{VERSION}:{micros}:{}", cursor.event_id))
}

/// Decodes a page token; `None` when it is not one this service issued.
pub fn decode(token: &str) -> Option<Cursor> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let mut parts = raw.splitn(3, ':');
    if parts.next()? != VERSION {
        return None;
    }
    let micros: i64 = parts.next()?.parse().ok()?;
    let event_id: Uuid = parts.next()?.parse().ok()?;
    let occurred_at = if micros >= 0 {
        UNIX_EPOCH + Duration::from_micros(micros as u64)
    } else {
        UNIX_EPOCH - Duration::from_micros(micros.unsigned_abs())
    };
    Some(Cursor {
        occurred_at,
        event_id,
    })
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
        assert_eq!(decode(&encode(&c)), Some(c));
    }

    #[test]
    fn test_garbage_is_refused() {
        assert_eq!(decode("not a token"), None);
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode("v9:1:x")), None);
    }
}
