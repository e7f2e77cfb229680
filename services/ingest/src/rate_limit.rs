//! Per-project rate limits over a sliding window, in Redis with a local
//! fallback.
//!
//! The window is approximated the usual way from two fixed windows: the
//! current count plus the previous window's count weighted by how much of it
//! still overlaps the sliding window. Counts live in Redis so every ingest
//! instance shares them. When Redis does not answer, each instance enforces
//! the same limit on its own counts (so N instances admit up to N times the
//! limit while Redis is down) and health reports degraded.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use boost_storage::redis::fred::{
    clients::Client,
    interfaces::{ClientLike, KeysInterface},
    types::Value,
};
use uuid::Uuid;

/// The rate limit settings.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Events a project may send per window; 0 turns limiting off.
    pub events: u64,
    /// Window length.
    pub window: Duration,
}

/// The outcome of one check, for the `x-ratelimit-*` metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The limit per window.
    pub limit: u64,
    /// Events left in the sliding window after this request.
    pub remaining: u64,
    /// Seconds until the current fixed window ends (when more room opens).
    pub reset_secs: u64,
}

/// Checks and counts events per project.
pub struct RateLimiter {
    /// Shared counts.
    redis: Client,
    /// The limit.
    limit: RateLimit,
    /// Counts per (project, window index) used while Redis is down.
    local: Mutex<HashMap<(Uuid, u64), u64>>,
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// The sliding-window estimate and the decision for `events` more.
pub fn decide(
    limit: RateLimit,
    previous: u64,
    current_after: u64,
    events: u64,
    now_ms: u64,
) -> Decision {
    let window_ms = limit.window.as_millis().max(1) as u64;
    let into_window = now_ms % window_ms;
    let overlap = 1.0 - into_window as f64 / window_ms as f64;
    let estimate = (previous as f64 * overlap) as u64 + current_after;
    let allowed = estimate <= limit.events;
    let used = if allowed {
        estimate
    } else {
        estimate.saturating_sub(events)
    };
    Decision {
        allowed,
        limit: limit.events,
        remaining: limit.events.saturating_sub(used),
        reset_secs: (window_ms - into_window).div_ceil(1000),
    }
}

impl RateLimiter {
    /// A limiter sharing counts through `redis`.
    pub fn new(redis: Client, limit: RateLimit) -> Self {
        Self {
            redis,
            limit,
            local: Mutex::new(HashMap::new()),
        }
    }

    /// The configured limit.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Counts `events` for `project` and says whether they are within the
    /// limit; `None` when limiting is off. Refused events still count (a
    /// client hammering past its limit stays limited).
    pub async fn check(&self, project: Uuid, events: u64) -> Option<Decision> {
        if self.limit.events == 0 {
            return None;
        }
        let now = now_millis();
        let window_ms = self.limit.window.as_millis().max(1) as u64;
        let index = now / window_ms;
        let (previous, current) = match self.count_in_redis(project, index, events, window_ms).await
        {
            Some(counts) => counts,
            None => self.count_locally(project, index, events),
        };
        Some(decide(self.limit, previous, current, events, now))
    }

    /// Current usage without counting anything (GetLimits).
    pub async fn usage(&self, project: Uuid) -> Option<Decision> {
        self.check(project, 0).await
    }

    async fn count_in_redis(
        &self,
        project: Uuid,
        index: u64,
        events: u64,
        window_ms: u64,
    ) -> Option<(u64, u64)> {
        if !self.redis.is_connected() {
            return None;
        }
        let key = |i: u64| format!("boost:ratelimit:{project}:{i}");
        let pipeline = self.redis.pipeline();
        let _: Result<(), _> = pipeline.incr_by(key(index), events as i64).await;
        let _: Result<(), _> = pipeline
            .pexpire(key(index), (2 * window_ms) as i64, None)
            .await;
        let _: Result<(), _> = pipeline.get(key(index.saturating_sub(1))).await;
        match pipeline.all::<Vec<Value>>().await {
            Ok(values) if values.len() == 3 => {
                let current = values[0].as_u64().unwrap_or(0);
                let previous = values[2].as_u64().unwrap_or(0);
                Some((previous, current))
            }
            Ok(_) => None,
            Err(e) => {
                tracing::debug!(error = %e, "rate limit counts unavailable; counting locally");
                None
            }
        }
    }

    fn count_locally(&self, project: Uuid, index: u64, events: u64) -> (u64, u64) {
        let mut local = self.local.lock().expect("rate limit lock");
        local.retain(|(_, i), _| *i + 1 >= index);
        let current = {
            let count = local.entry((project, index)).or_insert(0);
            *count += events;
            *count
        };
        let previous = local
            .get(&(project, index.saturating_sub(1)))
            .copied()
            .unwrap_or(0);
        (previous, current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: RateLimit = RateLimit {
        events: 100,
        window: Duration::from_secs(10),
    };

    #[test]
    fn test_within_limit_is_allowed() {
        let d = decide(LIMIT, 0, 40, 10, 0);
        assert!(d.allowed);
        assert_eq!(d.remaining, 60);
        assert_eq!(d.reset_secs, 10);
    }

    #[test]
    fn test_previous_window_counts_by_overlap() {
        // 2.5 s into the window: 75% of the previous window's 100 still counts.
        let d = decide(LIMIT, 100, 30, 30, 2_500);
        assert!(!d.allowed, "75 + 30 > 100");
        let d = decide(LIMIT, 100, 20, 20, 2_500);
        assert!(d.allowed, "75 + 20 <= 100");
        assert_eq!(d.remaining, 5);
    }

    #[test]
    fn test_refused_request_reports_room_before_it() {
        let d = decide(LIMIT, 0, 120, 30, 0);
        assert!(!d.allowed);
        assert_eq!(d.remaining, 10);
    }
}
