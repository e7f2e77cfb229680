//! Per-partition progress: the stored watermark (the next offset whose rows
//! are not yet committed), the broker's high watermark and so the lag, and
//! freshness (ingest receive time → stored) over the last minute.
//!
//! The consumer loops report into it; `GetStatus` and the `consuming` health
//! status read it; [`publish_watermarks`] tells ingest over Redis, so that a
//! COMMITTED acknowledgement can wait for its offset.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    sync::Mutex,
    time::{Duration, Instant, SystemTime},
};

use boost_storage::redis::{
    fred::{
        clients::Client,
        interfaces::{KeysInterface, PubsubInterface},
        types::Value,
    },
    watermarks,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tonic_health::{ServingStatus, server::HealthReporter};

/// Records the broker holds that are not stored yet, by `partition`.
const LAG: &str = "boost_processor_lag";
/// The next offset to store, by `partition`.
const STORED_OFFSET: &str = "boost_processor_stored_offset";
/// The broker's high watermark at the last fetch, by `partition`.
const HIGH_WATERMARK: &str = "boost_processor_high_watermark";
/// Ingest receive → stored, per record.
const FRESHNESS_SECONDS: &str = "boost_processor_freshness_seconds";
/// 1 while a partition has records waiting and stores nothing (or is held
/// by an offset conflict), by `partition`; what the `consuming` health says.
const STALLED: &str = "boost_processor_stalled";
/// Freshness samples older than this are forgotten.
const FRESHNESS_WINDOW: Duration = Duration::from_secs(60);
/// Most freshness samples kept (one per stored record).
const MAX_SAMPLES: usize = 65_536;

/// What is known about one partition.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionProgress {
    /// Next offset to store: everything before it is committed.
    pub next_offset: i64,
    /// The broker's high watermark at the last fetch (-1 before the first).
    pub high_watermark: i64,
    /// When the last batch was committed.
    pub last_stored: Option<SystemTime>,
    /// Why consuming is held: the stored offset does not fit the broker's
    /// log (see [`crate::offset_check`]); `None` while consuming.
    pub conflict: Option<String>,
    /// When the stored watermark last moved, or the loop started.
    last_progress: Instant,
}

impl PartitionProgress {
    /// A partition about to consume from `next_offset`, before any fetch.
    fn starting_at(next_offset: i64) -> Self {
        Self {
            next_offset,
            high_watermark: -1,
            last_stored: None,
            conflict: None,
            last_progress: Instant::now(),
        }
    }

    /// Records the broker holds that are not stored yet.
    pub fn lag(&self) -> i64 {
        (self.high_watermark - self.next_offset).max(0)
    }
}

/// Freshness percentiles over the last minute.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Freshness {
    /// Records sampled.
    pub samples: u64,
    /// Median, ms.
    pub p50_ms: u64,
    /// 95th percentile, ms.
    pub p95_ms: u64,
    /// Largest, ms.
    pub max_ms: u64,
}

/// Shared progress of every partition this instance consumes.
pub struct Progress {
    /// A partition with records waiting and no progress for this long is stalled.
    stall_after: Duration,
    /// Per partition.
    partitions: Mutex<BTreeMap<i32, PartitionProgress>>,
    /// (when stored, receive → stored) per record.
    freshness: Mutex<VecDeque<(Instant, Duration)>>,
    /// Partitions whose stored watermark moved since the last publish.
    dirty: Mutex<BTreeSet<i32>>,
    /// Wakes the publisher.
    moved: Notify,
}

impl Progress {
    /// Progress that calls a partition stalled after `stall_after` without storing.
    pub fn new(stall_after: Duration) -> Self {
        Self {
            stall_after,
            partitions: Mutex::default(),
            freshness: Mutex::default(),
            dirty: Mutex::default(),
            moved: Notify::new(),
        }
    }

    /// A partition loop starts at `next_offset`.
    pub fn started(&self, partition: i32, next_offset: i64) {
        self.partitions
            .lock()
            .expect("progress lock")
            .insert(partition, PartitionProgress::starting_at(next_offset));
        self.mark_moved(partition);
    }

    /// A partition is no longer consumed here (its lease went to another
    /// instance): it leaves the status, lag and health.
    pub fn forget(&self, partition: i32) {
        self.partitions
            .lock()
            .expect("progress lock")
            .remove(&partition);
        self.dirty.lock().expect("progress lock").remove(&partition);
    }

    /// A partition is held at `next_offset` because its stored offset does
    /// not fit the broker's log.
    pub fn hold(&self, partition: i32, next_offset: i64, high_watermark: i64, reason: String) {
        let mut partitions = self.partitions.lock().expect("progress lock");
        let p = partitions
            .entry(partition)
            .or_insert_with(|| PartitionProgress::starting_at(next_offset));
        p.next_offset = next_offset;
        p.high_watermark = high_watermark;
        p.conflict = Some(reason);
    }

    /// Partitions held on an offset conflict, with the reason.
    pub fn conflicts(&self) -> Vec<(i32, String)> {
        self.partitions
            .lock()
            .expect("progress lock")
            .iter()
            .filter_map(|(partition, p)| p.conflict.clone().map(|c| (*partition, c)))
            .collect()
    }

    /// A fetch saw the broker's high watermark.
    pub fn fetched(&self, partition: i32, high_watermark: i64) {
        if let Some(p) = self
            .partitions
            .lock()
            .expect("progress lock")
            .get_mut(&partition)
        {
            p.high_watermark = high_watermark;
            let label = partition.to_string();
            metrics::gauge!(LAG, "partition" => label.clone()).set(p.lag() as f64);
            metrics::gauge!(HIGH_WATERMARK, "partition" => label).set(high_watermark as f64);
        }
    }

    /// A batch is committed up to `next_offset`; `received` are the ingest
    /// receive times of its records.
    pub fn stored(&self, partition: i32, next_offset: i64, received: &[SystemTime]) {
        let now = SystemTime::now();
        let instant = Instant::now();
        if let Some(p) = self
            .partitions
            .lock()
            .expect("progress lock")
            .get_mut(&partition)
        {
            p.next_offset = next_offset;
            p.last_stored = Some(now);
            p.last_progress = instant;
            let label = partition.to_string();
            metrics::gauge!(LAG, "partition" => label.clone()).set(p.lag() as f64);
            metrics::gauge!(STORED_OFFSET, "partition" => label).set(next_offset as f64);
        }
        {
            let mut samples = self.freshness.lock().expect("freshness lock");
            let freshness = metrics::histogram!(FRESHNESS_SECONDS);
            for at in received {
                let age = now.duration_since(*at).unwrap_or_default();
                freshness.record(age.as_secs_f64());
                samples.push_back((instant, age));
            }
            while samples.len() > MAX_SAMPLES
                || samples
                    .front()
                    .is_some_and(|(t, _)| instant.duration_since(*t) > FRESHNESS_WINDOW)
            {
                samples.pop_front();
            }
        }
        self.mark_moved(partition);
    }

    fn mark_moved(&self, partition: i32) {
        self.dirty.lock().expect("dirty lock").insert(partition);
        self.moved.notify_one();
    }

    /// Every partition's progress, by partition.
    pub fn partitions(&self) -> BTreeMap<i32, PartitionProgress> {
        self.partitions.lock().expect("progress lock").clone()
    }

    /// Freshness over the last minute.
    pub fn freshness(&self) -> Freshness {
        let cutoff = Instant::now().checked_sub(FRESHNESS_WINDOW);
        let mut ms: Vec<u64> = self
            .freshness
            .lock()
            .expect("freshness lock")
            .iter()
            .filter(|(t, _)| cutoff.is_none_or(|c| *t >= c))
            .map(|(_, d)| d.as_millis() as u64)
            .collect();
        if ms.is_empty() {
            return Freshness::default();
        }
        ms.sort_unstable();
        let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
        Freshness {
            samples: ms.len() as u64,
            p50_ms: at(0.5),
            p95_ms: at(0.95),
            max_ms: ms[ms.len() - 1],
        }
    }

    /// Partitions with records waiting whose watermark has not moved for
    /// the stall threshold.
    pub fn stalled(&self) -> Vec<i32> {
        let after = self.stall_after;
        self.partitions
            .lock()
            .expect("progress lock")
            .iter()
            .filter(|(_, p)| p.lag() > 0 && p.last_progress.elapsed() > after)
            .map(|(partition, _)| *partition)
            .collect()
    }

    fn take_moved(&self) -> Vec<(i32, i64)> {
        let dirty = std::mem::take(&mut *self.dirty.lock().expect("dirty lock"));
        let partitions = self.partitions.lock().expect("progress lock");
        dirty
            .into_iter()
            .filter_map(|p| partitions.get(&p).map(|progress| (p, progress.next_offset)))
            .collect()
    }
}

/// Health name that is NOT_SERVING while a partition has records waiting
/// and has stored nothing for the stall threshold (e.g. PostgreSQL is down),
/// or is held on an offset conflict.
pub const HEALTH_NAME: &str = "consuming";

/// Publishes moved stored watermarks ([`watermarks::Names`]: the channel and the
/// per-partition keys) until `cancel`. Moves that happen while a publish is in flight are coalesced
/// into the next message; with Redis down they are dropped (ingest's
/// COMMITTED waits then time out, and nothing else depends on them).
pub async fn publish_watermarks(
    progress: std::sync::Arc<Progress>,
    redis: Client,
    names: watermarks::Names,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            () = progress.moved.notified() => {}
        }
        let moved = progress.take_moved();
        if moved.is_empty() {
            continue;
        }
        // The keys first, so a listener that reads them after the message
        // never sees an older value than the message had.
        let pipeline = redis.pipeline();
        let keys: Vec<(String, i64)> = moved.iter().map(|(p, o)| (names.key(*p), *o)).collect();
        let _: Result<(), _> = pipeline.mset(keys).await;
        let _: Result<(), _> = pipeline
            .publish(names.channel(), watermarks::encode(&moved))
            .await;
        if let Err(e) = pipeline.all::<Vec<Value>>().await {
            boost_storage::redis::count_error("watermarks");
            tracing::debug!(error = %e, "stored watermark not published");
        }
    }
}

/// Reports [`HEALTH_NAME`] every second until `cancel`, logging each change.
pub async fn report_health(
    progress: std::sync::Arc<Progress>,
    health: HealthReporter,
    cancel: CancellationToken,
) {
    let mut was_stalled = None;
    loop {
        let stalled = (progress.stalled(), progress.conflicts());
        for partition in progress.partitions().keys() {
            let held =
                stalled.0.contains(partition) || stalled.1.iter().any(|(p, _)| p == partition);
            metrics::gauge!(STALLED, "partition" => partition.to_string()).set(if held {
                1.0
            } else {
                0.0
            });
        }
        if was_stalled.as_ref() != Some(&stalled) {
            if stalled.0.is_empty() && stalled.1.is_empty() {
                health
                    .set_service_status(HEALTH_NAME, ServingStatus::Serving)
                    .await;
                if was_stalled.is_some() {
                    tracing::info!("every partition is storing again");
                }
            } else {
                health
                    .set_service_status(HEALTH_NAME, ServingStatus::NotServing)
                    .await;
                let (stalled_partitions, conflicts) = &stalled;
                if !stalled_partitions.is_empty() {
                    tracing::warn!(partitions = ?stalled_partitions, "partitions have records waiting and store nothing");
                }
                for (partition, reason) in conflicts {
                    tracing::error!(partition, %reason, "partition held: run `boost-offsets reset` after checking the broker");
                }
            }
            was_stalled = Some(stalled);
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_lag_stall_and_freshness() {
        let progress = Progress::new(Duration::ZERO);
        progress.started(0, 10);
        progress.fetched(0, 15);
        assert_eq!(progress.partitions()[&0].lag(), 5);
        assert_eq!(progress.stalled(), vec![0]);
        let now = SystemTime::now();
        let received: Vec<_> = (1..=100)
            .map(|ms| now - Duration::from_millis(ms * 10))
            .collect();
        progress.stored(0, 15, &received);
        assert_eq!(progress.partitions()[&0].lag(), 0);
        assert!(progress.stalled().is_empty());
        let freshness = progress.freshness();
        assert_eq!(freshness.samples, 100);
        assert!((490..600).contains(&freshness.p50_ms), "{freshness:?}");
        assert!((940..1100).contains(&freshness.p95_ms), "{freshness:?}");
        assert_eq!(progress.take_moved(), vec![(0, 15)]);
        assert!(progress.take_moved().is_empty());
    }
}
