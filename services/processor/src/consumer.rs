//! One loop per assigned partition: fetch → decode → store with the offset.
//!
//! The offset is committed in the same transaction as the rows, so a crash at
//! any point makes the next start re-read from the last committed offset:
//! replays, never skips. Before consuming, the stored offset is checked
//! against the broker's log ([`crate::offset_check`]); one that does not fit
//! holds the partition instead of skipping. A database outage is not a poison record: the loop
//! retries the same batch with backoff until it is stored or shutdown.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use boost_kafka::{
    client::partition_client,
    rskafka::client::{
        Client,
        partition::{OffsetAt, PartitionClient},
    },
};
use boost_server::error::error_chain;
use boost_storage::{
    Pool, StorageError,
    leases::Lease,
    offsets::{self, LogKey, StoredOffset},
    partitions::DayPartitions,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{
    batch::{self, Commit},
    batch_trace,
    handlers::Registry,
    offset_check,
    progress::Progress,
};

/// Events and records dead-lettered, by `handler` (`decode` for records
/// that could not be read).
pub const DEAD_LETTERS: &str = "boost_processor_dead_letters_total";
/// Time to write one batch and its offset (one transaction, retries included).
const COMMIT_SECONDS: &str = "boost_processor_commit_seconds";
/// Events per stored batch.
const BATCH_EVENTS: &str = "boost_processor_batch_events";
/// What every partition loop shares.
pub struct Consumer {
    /// Kafka client (one connection per broker, shared).
    pub kafka: Client,
    /// Database pool.
    pub pool: Pool,
    /// The cluster id the brokers report: offsets are keyed by it.
    pub cluster_id: String,
    /// Events topic.
    pub topic: String,
    /// Fetch wait; the broker does not wake a waiting fetch on new data.
    pub fetch_max_wait: Duration,
    /// Fetch size bound.
    pub fetch_max_bytes: i32,
    /// Event handlers by kind.
    pub registry: Registry,
    /// Stored watermarks, lag and freshness.
    pub progress: Arc<Progress>,
    /// Day partitions of `events` known to exist.
    pub days: DayPartitions,
}

const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// How often a held partition looks for an operator's reset.
const RESET_POLL: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Consumer {
    /// Consumes `partition` from its stored position (or the earliest
    /// offset) until `cancel`, or until a commit finds `lease` taken over
    /// (`None`: statically assigned, no lease). A stored offset that does
    /// not fit the broker's log holds the partition until an operator
    /// resets it.
    pub async fn run_partition(
        self: Arc<Self>,
        partition: i32,
        stored: Option<StoredOffset>,
        lease: Option<Lease>,
        cancel: CancellationToken,
    ) {
        let Some(client) = self
            .retry(&cancel, "open partition", || {
                partition_client(&self.kafka, &self.topic, partition)
            })
            .await
        else {
            return;
        };
        let start = match stored {
            Some(stored) => {
                self.checked_start(&client, partition, stored, &cancel)
                    .await
            }
            None => {
                self.retry(&cancel, "find earliest offset", || {
                    client.get_offset(OffsetAt::Earliest)
                })
                .await
            }
        };
        let Some(mut offset) = start else { return };
        tracing::info!(partition, offset, "consuming partition");
        self.progress.started(partition, offset);
        let mut backoff = MIN_BACKOFF;
        loop {
            let fetch_started = SystemTime::now();
            let fetched = tokio::select! {
                () = cancel.cancelled() => break,
                fetched = client.fetch_records(offset, 1..self.fetch_max_bytes, self.fetch_max_wait.as_millis() as i32) => fetched,
            };
            // The broker's log was replaced under a running loop: it ends
            // before our offset (Kafka answers that fetch with an error).
            let log_shrank = match &fetched {
                Ok((_, high_watermark)) => offset > *high_watermark,
                Err(err) => offset_check::out_of_range_high_watermark(err).is_some(),
            };
            if log_shrank {
                match self
                    .hold_after_conflict(&client, partition, offset, &cancel)
                    .await
                {
                    Some(next) => offset = next,
                    None => break,
                }
                continue;
            }
            let records = match fetched {
                Ok((records, high_watermark)) => {
                    backoff = MIN_BACKOFF;
                    self.progress.fetched(partition, high_watermark);
                    records
                }
                Err(err) => {
                    tracing::warn!(partition, offset, error = %err, "fetch failed");
                    if !sleep_or_cancel(&cancel, &mut backoff).await {
                        break;
                    }
                    continue;
                }
            };
            // Compacted or pre-`offset` records can come back; keep only new ones.
            let records: Vec<_> = records.into_iter().filter(|r| r.offset >= offset).collect();
            let Some(last) = records.last() else { continue };
            let next = last.offset + 1;
            let span =
                batch_trace::batch_span(partition, &records, (fetch_started, SystemTime::now()));
            let batch = span.in_scope(|| batch::decode(&records, &self.registry));
            for dead in &batch.unreadable {
                tracing::warn!(partition, offset = dead.offset, reason = %dead.error, "dead-lettering record");
                metrics::counter!(DEAD_LETTERS, "handler" => "decode").increment(1);
            }
            for refused in &batch.refused {
                tracing::warn!(partition, offset = refused.offset, event_id = %refused.event_id,
                    handler = refused.handler, reason = %refused.error, "dead-lettering event");
                metrics::counter!(DEAD_LETTERS, "handler" => refused.handler).increment(1);
            }
            let log = self.log();
            let writing = std::time::Instant::now();
            let written = self
                .retry(&cancel, "store batch", || {
                    batch::write(&self.pool, &self.days, &log, lease, partition, next, &batch)
                })
                .instrument(span)
                .await;
            let inserted = match written {
                Some(Commit::Stored(inserted)) => inserted,
                Some(Commit::Fenced) => {
                    tracing::warn!(
                        partition,
                        offset,
                        "lease taken over: batch not stored, partition given up"
                    );
                    break;
                }
                None => break,
            };
            metrics::histogram!(COMMIT_SECONDS).record(writing.elapsed().as_secs_f64());
            metrics::histogram!(BATCH_EVENTS).record(batch.events.len() as f64);
            self.progress.stored(partition, next, &batch.received);
            tracing::debug!(
                partition,
                next,
                records = records.len(),
                events = batch.events.len(),
                inserted,
                "stored batch"
            );
            offset = next;
        }
        tracing::info!(partition, offset, "partition consumer stopped");
    }

    /// Which broker log this consumer's offsets belong to.
    pub fn log(&self) -> LogKey<'_> {
        LogKey {
            cluster_id: &self.cluster_id,
            topic: &self.topic,
        }
    }

    /// The offset to start from: `stored` when it fits the broker's log;
    /// otherwise the partition is held until an operator resets it, and the
    /// reset offset (once it fits) is returned. `None` when cancelled.
    async fn checked_start(
        &self,
        client: &PartitionClient,
        partition: i32,
        mut stored: StoredOffset,
        cancel: &CancellationToken,
    ) -> Option<i64> {
        let max_wait_ms = self.fetch_max_wait.as_millis() as i32;
        let mut held = false;
        loop {
            let log = self
                .retry(cancel, "check stored offset", || {
                    offset_check::probe(client, &stored, self.fetch_max_bytes, max_wait_ms)
                })
                .await?;
            let Err(conflict) = offset_check::check(&stored, &log) else {
                if held {
                    tracing::info!(
                        partition,
                        offset = stored.next_offset,
                        "offset conflict resolved"
                    );
                    // Clears the conflict (GetStatus, `consuming` health).
                    self.progress.started(partition, stored.next_offset);
                }
                return Some(stored.next_offset);
            };
            tracing::error!(partition, cluster_id = %self.cluster_id, topic = %self.topic,
                reason = %conflict, "holding partition: its stored offset does not fit the broker's log");
            self.progress.hold(
                partition,
                stored.next_offset,
                log.high_watermark,
                conflict.to_string(),
            );
            held = true;
            stored = self.wait_for_reset(partition, &stored, cancel).await?;
        }
    }

    /// Reloads a running partition's stored offset after the broker's log
    /// stopped fitting it, and holds it like a start-up conflict.
    async fn hold_after_conflict(
        &self,
        client: &PartitionClient,
        partition: i32,
        offset: i64,
        cancel: &CancellationToken,
    ) -> Option<i64> {
        let stored = self
            .retry(cancel, "load stored offset", || self.load_stored(partition))
            .await?
            .unwrap_or(StoredOffset::unstored(offset));
        self.checked_start(client, partition, stored, cancel).await
    }

    /// The stored position of `partition`, if any.
    async fn load_stored(&self, partition: i32) -> Result<Option<StoredOffset>, StorageError> {
        offsets::load_one(&self.pool.get().await?, &self.log(), partition).await
    }

    /// Polls the partition's stored offset until an operator changes it
    /// (`boost-offsets reset`); `None` when cancelled.
    async fn wait_for_reset(
        &self,
        partition: i32,
        held: &StoredOffset,
        cancel: &CancellationToken,
    ) -> Option<StoredOffset> {
        loop {
            tokio::select! {
                () = cancel.cancelled() => return None,
                () = tokio::time::sleep(RESET_POLL) => {}
            }
            match self.load_stored(partition).await {
                Ok(Some(current)) if current != *held => return Some(current),
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(partition, error = %error_chain(&err), "cannot read stored offset")
                }
            }
        }
    }

    /// Runs `operation` until it succeeds (Some) or `cancel` fires (None),
    /// backing off exponentially between failures.
    async fn retry<T, E, F, Fut>(
        &self,
        cancel: &CancellationToken,
        what: &str,
        mut operation: F,
    ) -> Option<T>
    where
        E: std::error::Error,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let mut backoff = MIN_BACKOFF;
        loop {
            match operation().await {
                Ok(value) => return Some(value),
                Err(err) => {
                    tracing::warn!(error = %error_chain(&err), retry_in = ?backoff, "{what} failed");
                    if !sleep_or_cancel(cancel, &mut backoff).await {
                        return None;
                    }
                }
            }
        }
    }
}

/// Sleeps for `backoff` (then doubles it, up to a cap); false when cancelled.
async fn sleep_or_cancel(cancel: &CancellationToken, backoff: &mut Duration) -> bool {
    let delay = *backoff;
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
    tokio::select! {
        () = cancel.cancelled() => false,
        () = tokio::time::sleep(delay) => true,
    }
}
