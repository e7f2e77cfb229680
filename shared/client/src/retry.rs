//! The retry policy every SDK shares: UNAVAILABLE and RESOURCE_EXHAUSTED are
//! retried after the server's RetryInfo delay, else after an exponential
//! backoff with full jitter, capped, within an overall deadline per batch.

use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::StatusExt;

/// How long to wait between tries, and for how long to keep trying.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// First backoff when the server gives no delay.
    pub initial_backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
    /// Backoff growth per try.
    pub multiplier: f64,
    /// Give up on a batch this long after its first try.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    /// The defaults, the same in every SDK: 0.1 s doubling, capped at 5 s, 60 s in all.
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            multiplier: 2.0,
            deadline: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before try `attempt + 1`: the server's delay when it gave
    /// one, else a jittered exponential backoff.
    pub fn delay(&self, attempt: u32, server_delay: Option<Duration>) -> Duration {
        if let Some(delay) = server_delay {
            return delay;
        }
        let ceiling = self
            .max_backoff
            .as_secs_f64()
            .min(self.initial_backoff.as_secs_f64() * self.multiplier.powi(attempt as i32));
        Duration::from_secs_f64(rand::random::<f64>() * ceiling)
    }
}

/// Whether a whole call that failed with `status` is sent again.
pub fn retryable(status: &Status) -> bool {
    matches!(status.code(), Code::Unavailable | Code::ResourceExhausted)
}

/// The RetryInfo delay a status carries, if any.
pub fn server_delay(status: &Status) -> Option<Duration> {
    status
        .get_details_retry_info()
        .and_then(|info| info.retry_delay)
}

/// The first BadRequest field violation a status carries, if any.
pub fn violated_field(status: &Status) -> Option<String> {
    status
        .get_details_bad_request()
        .and_then(|bad| bad.field_violations.first().map(|v| v.field.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_server_delay_wins_and_backoff_is_capped() {
        let policy = RetryPolicy::default();
        let server = Some(Duration::from_secs(3));
        assert_eq!(policy.delay(7, server), Duration::from_secs(3));
        for attempt in 0..20 {
            assert!(policy.delay(attempt, None) <= policy.max_backoff);
        }
    }
}
