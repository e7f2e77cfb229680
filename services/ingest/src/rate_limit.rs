//! Rate limits over a sliding window, in Redis with a local fallback: per
//! project always, and optionally per API key, per end user and per client
//! address.
//!
//! The window is approximated the usual way from two fixed windows: the
//! current count plus the previous window's count weighted by how much of it
//! still overlaps the sliding window. Counts live in Redis so every ingest
//! instance shares them. When Redis does not answer, each instance enforces
//! the same limit on its own counts (so N instances admit up to N times the
//! limit while Redis is down) and health reports degraded.

use std::{
    collections::HashMap,
    fmt,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use boost_storage::redis::fred::{
    clients::Client,
    interfaces::{ClientLike, KeysInterface},
    types::Value,
};
use uuid::Uuid;

/// The rate limit settings: events per window for each kind of subject; 0
/// turns that limit off.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// Events one project may send per window.
    pub project: u64,
    /// Events one API key may send per window.
    pub key: u64,
    /// Events about one end user (`user_id`) per window.
    pub user: u64,
    /// Events from one client address per window.
    pub address: u64,
    /// Window length.
    pub window: Duration,
}

/// What one limit counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A project.
    Project(Uuid),
    /// An API key, by id.
    Key(Uuid),
    /// An end user of a project.
    User(Uuid, String),
    /// A client address.
    Address(IpAddr),
}

impl Subject {
    /// The subject's name in QuotaFailure violations and refusal messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Subject::Project(_) => "project",
            Subject::Key(_) => "api_key",
            Subject::User(..) => "user",
            Subject::Address(_) => "client_address",
        }
    }
}

impl fmt::Display for Subject {
    /// The Redis key part; end-user ids are hashed so any text is a safe key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Project(id) => write!(f, "{id}"),
            Subject::Key(id) => write!(f, "key:{id}"),
            Subject::User(project, user) => {
                use sha2::Digest;
                let digest = sha2::Sha256::digest(user.as_bytes());
                write!(f, "user:{project}:")?;
                digest[..12].iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
            Subject::Address(ip) => write!(f, "ip:{ip}"),
        }
    }
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

/// Checks and counts events per subject.
pub struct RateLimiter {
    /// Shared counts.
    redis: Client,
    /// The limits.
    limits: RateLimits,
    /// Counts per (subject, window index) used while Redis is down.
    local: Mutex<HashMap<(Subject, u64), u64>>,
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// The sliding-window estimate and the decision for `events` more.
pub fn decide(
    limit: u64,
    window: Duration,
    previous: u64,
    current_after: u64,
    events: u64,
    now_ms: u64,
) -> Decision {
    let window_ms = window.as_millis().max(1) as u64;
    let into_window = now_ms % window_ms;
    let overlap = 1.0 - into_window as f64 / window_ms as f64;
    let estimate = (previous as f64 * overlap) as u64 + current_after;
    let allowed = estimate <= limit;
    let used = if allowed {
        estimate
    } else {
        estimate.saturating_sub(events)
    };
    Decision {
        allowed,
        limit,
        remaining: limit.saturating_sub(used),
        reset_secs: (window_ms - into_window).div_ceil(1000),
    }
}

impl RateLimiter {
    /// A limiter sharing counts through `redis`.
    pub fn new(redis: Client, limits: RateLimits) -> Self {
        Self {
            redis,
            limits,
            local: Mutex::new(HashMap::new()),
        }
    }

    /// The configured limits.
    pub fn limits(&self) -> RateLimits {
        self.limits
    }

    fn limit_for(&self, subject: &Subject) -> u64 {
        match subject {
            Subject::Project(_) => self.limits.project,
            Subject::Key(_) => self.limits.key,
            Subject::User(..) => self.limits.user,
            Subject::Address(_) => self.limits.address,
        }
    }

    /// Counts events for each subject in one Redis round trip and says, per
    /// subject, whether they are within its limit. Subjects whose limit is
    /// off are left out. Refused events still count (a client hammering past
    /// its limit stays limited).
    pub async fn check(&self, counts: Vec<(Subject, u64)>) -> Vec<(Subject, Decision)> {
        let counts: Vec<(Subject, u64, u64)> = counts
            .into_iter()
            .filter_map(|(subject, events)| {
                let limit = self.limit_for(&subject);
                (limit > 0).then_some((subject, events, limit))
            })
            .collect();
        if counts.is_empty() {
            return Vec::new();
        }
        let now = now_millis();
        let window_ms = self.limits.window.as_millis().max(1) as u64;
        let index = now / window_ms;
        let windows = match self.count_in_redis(&counts, index, window_ms).await {
            Some(windows) => windows,
            None => self.count_locally(&counts, index),
        };
        counts
            .into_iter()
            .zip(windows)
            .map(|((subject, events, limit), (previous, current))| {
                let decision = decide(limit, self.limits.window, previous, current, events, now);
                (subject, decision)
            })
            .collect()
    }

    /// A subject's current usage without counting anything (GetLimits).
    pub async fn usage(&self, subject: Subject) -> Option<Decision> {
        self.check(vec![(subject, 0)]).await.pop().map(|(_, d)| d)
    }

    /// (previous window, current window after counting) per subject.
    async fn count_in_redis(
        &self,
        counts: &[(Subject, u64, u64)],
        index: u64,
        window_ms: u64,
    ) -> Option<Vec<(u64, u64)>> {
        if !self.redis.is_connected() {
            return None;
        }
        let key = |subject: &Subject, i: u64| format!("boost:ratelimit:{subject}:{i}");
        let pipeline = self.redis.pipeline();
        for (subject, events, _) in counts {
            let _: Result<(), _> = pipeline.incr_by(key(subject, index), *events as i64).await;
            let _: Result<(), _> = pipeline
                .pexpire(key(subject, index), (2 * window_ms) as i64, None)
                .await;
            let _: Result<(), _> = pipeline.get(key(subject, index.saturating_sub(1))).await;
        }
        match pipeline.all::<Vec<Value>>().await {
            Ok(values) if values.len() == 3 * counts.len() => Some(
                values
                    .chunks(3)
                    .map(|v| (v[2].as_u64().unwrap_or(0), v[0].as_u64().unwrap_or(0)))
                    .collect(),
            ),
            Ok(_) => None,
            Err(e) => {
                boost_storage::redis::count_error("rate_limit");
                tracing::debug!(error = %e, "rate limit counts unavailable; counting locally");
                None
            }
        }
    }

    fn count_locally(&self, counts: &[(Subject, u64, u64)], index: u64) -> Vec<(u64, u64)> {
        let mut local = self.local.lock().expect("rate limit lock");
        local.retain(|(_, i), _| *i + 1 >= index);
        counts
            .iter()
            .map(|(subject, events, _)| {
                let current = {
                    let count = local.entry((subject.clone(), index)).or_insert(0);
                    *count += events;
                    *count
                };
                let previous = local
                    .get(&(subject.clone(), index.saturating_sub(1)))
                    .copied()
                    .unwrap_or(0);
                (previous, current)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u64 = 100;
    const WINDOW: Duration = Duration::from_secs(10);

    #[test]
    fn test_within_limit_is_allowed() {
        let d = decide(LIMIT, WINDOW, 0, 40, 10, 0);
        assert!(d.allowed);
        assert_eq!(d.remaining, 60);
        assert_eq!(d.reset_secs, 10);
    }

    #[test]
    fn test_previous_window_counts_by_overlap() {
        // 2.5 s into the window: 75% of the previous window's 100 still counts.
        let d = decide(LIMIT, WINDOW, 100, 30, 30, 2_500);
        assert!(!d.allowed, "75 + 30 > 100");
        let d = decide(LIMIT, WINDOW, 100, 20, 20, 2_500);
        assert!(d.allowed, "75 + 20 <= 100");
        assert_eq!(d.remaining, 5);
    }

    #[test]
    fn test_refused_request_reports_room_before_it() {
        let d = decide(LIMIT, WINDOW, 0, 120, 30, 0);
        assert!(!d.allowed);
        assert_eq!(d.remaining, 10);
    }
}
