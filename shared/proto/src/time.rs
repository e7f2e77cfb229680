//! `google.protobuf.Timestamp` checked at the boundary.
//!
//! prost-types converts any Timestamp to a `SystemTime` after normalising
//! it: `nanos` outside 0..1e9 are silently carried into seconds, and a
//! year-3000000 expiry wraps or saturates downstream (it was once stored as
//! 1970). The protobuf spec bounds a Timestamp to years 0001–9999 with nanos
//! in 0..=999,999,999; Boost refuses anything else, naming the field.

use std::time::SystemTime;

use prost_types::Timestamp;

/// 0001-01-01T00:00:00Z, the earliest Timestamp the spec allows.
pub const MIN_SECONDS: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z, the latest Timestamp the spec allows.
pub const MAX_SECONDS: i64 = 253_402_300_799;

/// The time `timestamp` stands for, or why it is not a valid Timestamp.
pub fn checked(timestamp: &Timestamp) -> Result<SystemTime, &'static str> {
    if !(0..=999_999_999).contains(&timestamp.nanos) {
        return Err("nanos must be between 0 and 999999999");
    }
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&timestamp.seconds) {
        return Err("must be between 0001-01-01 and 9999-12-31");
    }
    SystemTime::try_from(*timestamp).map_err(|_| "is not representable on this server")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_spec_range_and_nanos_enforced() {
        let ok = Timestamp {
            seconds: 1_700_000_000,
            nanos: 999_999_999,
        };
        assert!(checked(&ok).is_ok());
        for bad in [
            Timestamp {
                seconds: 1_700_000_000,
                nanos: 1_000_000_000,
            },
            Timestamp {
                seconds: 1_700_000_000,
                nanos: -1,
            },
            Timestamp {
                seconds: MAX_SECONDS + 1,
                nanos: 0,
            },
            Timestamp {
                seconds: 95_617_584_000_000,
                nanos: 0,
            },
            Timestamp {
                seconds: MIN_SECONDS - 1,
                nanos: 0,
            },
        ] {
            assert!(checked(&bad).is_err(), "{bad:?}");
        }
    }
}
