//! Coalesced `last_used_at` updates: a key is written at most once per
//! interval (about a minute), in one background statement for all keys used
//! meanwhile, never once per request.

use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
    time::{Duration, Instant},
};

use boost_storage::{Pool, keys};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Default minimum time between two writes for one key.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(60);
/// How often pending updates are flushed.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

#[derive(Default)]
struct State {
    /// When each key was last queued for a write.
    queued_at: HashMap<Uuid, Instant>,
    /// Keys to write at the next flush.
    pending: HashSet<Uuid>,
}

/// Records key use and writes it out in coalesced batches.
pub struct LastUsed {
    /// Queue and per-key throttle.
    state: Mutex<State>,
    /// Minimum time between two writes for one key.
    min_interval: Duration,
}

impl LastUsed {
    /// A recorder writing each key at most once per `min_interval`.
    pub fn new(min_interval: Duration) -> Self {
        Self {
            state: Mutex::new(State::default()),
            min_interval,
        }
    }

    /// Notes a use; returns whether it will cause a write.
    pub fn record(&self, key: Uuid, now: Instant) -> bool {
        let mut state = self.state.lock().expect("last-used lock");
        let due = state
            .queued_at
            .get(&key)
            .is_none_or(|at| now.duration_since(*at) >= self.min_interval);
        if due {
            state.queued_at.insert(key, now);
            state.pending.insert(key);
        }
        due
    }

    /// Takes the keys to write and forgets throttles that have expired.
    pub fn take_pending(&self, now: Instant) -> Vec<Uuid> {
        let mut state = self.state.lock().expect("last-used lock");
        let min_interval = self.min_interval;
        state
            .queued_at
            .retain(|_, at| now.duration_since(*at) < min_interval);
        state.pending.drain().collect()
    }

    /// Flushes every [`FLUSH_EVERY`] until `cancel`, then once more.
    pub async fn run(&self, pool: Pool, cancel: CancellationToken) {
        loop {
            let stop = tokio::select! {
                () = cancel.cancelled() => true,
                () = tokio::time::sleep(FLUSH_EVERY) => false,
            };
            let ids = self.take_pending(Instant::now());
            if !ids.is_empty() {
                let written = match pool.get().await {
                    Ok(client) => keys::touch_last_used(&client, &ids)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(error) = written {
                    // Not worth retrying: the next use records it again.
                    tracing::warn!(keys = ids.len(), %error, "last-used update failed");
                }
            }
            if stop {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_one_write_per_interval_per_key() {
        let last_used = LastUsed::new(Duration::from_secs(60));
        let key = Uuid::now_v7();
        let start = Instant::now();
        assert!(last_used.record(key, start));
        for i in 1..1000 {
            assert!(!last_used.record(key, start + Duration::from_millis(i)));
        }
        assert_eq!(
            last_used.take_pending(start + Duration::from_secs(1)),
            vec![key]
        );
        assert!(
            last_used
                .take_pending(start + Duration::from_secs(2))
                .is_empty()
        );
        assert!(!last_used.record(key, start + Duration::from_secs(30)));
        assert!(last_used.record(key, start + Duration::from_secs(61)));
        assert_eq!(
            last_used.take_pending(start + Duration::from_secs(62)),
            vec![key]
        );
    }
}
