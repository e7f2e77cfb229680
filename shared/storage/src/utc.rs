//! UTC hours and days as whole seconds since the epoch: the one place the
//! rollups, retention, day partitions and the query service floor times.

use std::time::{Duration, SystemTime};

/// One hour.
pub const HOUR: Duration = Duration::from_secs(3600);
/// One minute.
pub const MINUTE: Duration = Duration::from_secs(60);
/// One UTC day.
pub const DAY: Duration = Duration::from_secs(24 * 3600);

/// Whole seconds since the epoch (0 before it).
pub fn secs(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The time `secs` seconds after the epoch.
pub fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// The start of the `unit` (hour or day) holding `time`.
pub fn floor(time: SystemTime, unit: Duration) -> SystemTime {
    let unit = unit.as_secs().max(1);
    at(secs(time) / unit * unit)
}

/// Whether `time` starts a `unit` exactly.
pub fn is_on(time: SystemTime, unit: Duration) -> bool {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .is_ok_and(|d| d.subsec_nanos() == 0 && d.as_secs() % unit.as_secs().max(1) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_floor_and_is_on() {
        let t = at(3 * 86_400 + 5 * 3600 + 7);
        assert_eq!(floor(t, HOUR), at(3 * 86_400 + 5 * 3600));
        assert_eq!(floor(t, DAY), at(3 * 86_400));
        assert!(is_on(floor(t, HOUR), HOUR));
        assert!(!is_on(t, HOUR));
        assert!(!is_on(at(3600) + Duration::from_millis(1), HOUR));
    }
}
