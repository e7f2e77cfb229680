//! One loop per assigned partition: fetch → decode → store with the offset.
//!
//! The offset is committed in the same transaction as the rows, so a crash at
//! any point makes the next start re-read from the last committed offset:
//! replays, never skips. A database outage is not a poison record: the loop
//! retries the same batch with backoff until it is stored or shutdown.

use std::{sync::Arc, time::Duration};

use boost_kafka::{
    client::partition_client,
    rskafka::client::{Client, partition::OffsetAt},
};
use boost_server::error::error_chain;
use boost_storage::{Pool, partitions::DayPartitions};
use tokio_util::sync::CancellationToken;

use crate::{handlers::Registry, progress::Progress, store};

/// What every partition loop shares.
pub struct Consumer {
    /// Kafka client (one connection per broker, shared).
    pub kafka: Client,
    /// Database pool.
    pub pool: Pool,
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
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Consumer {
    /// Consumes `partition` from `start` (or the earliest offset) until `cancel`.
    pub async fn run_partition(
        self: Arc<Self>,
        partition: i32,
        start: Option<i64>,
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
        let mut offset = match start {
            Some(offset) => offset,
            None => match self
                .retry(&cancel, "find earliest offset", || {
                    client.get_offset(OffsetAt::Earliest)
                })
                .await
            {
                Some(offset) => offset,
                None => return,
            },
        };
        tracing::info!(partition, offset, "consuming partition");
        self.progress.started(partition, offset);
        let mut backoff = MIN_BACKOFF;
        loop {
            let fetched = tokio::select! {
                () = cancel.cancelled() => break,
                fetched = client.fetch_records(offset, 1..self.fetch_max_bytes, self.fetch_max_wait.as_millis() as i32) => fetched,
            };
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
            let batch = store::decode(&records, &self.registry);
            for dead in &batch.unreadable {
                tracing::warn!(partition, offset = dead.offset, reason = %dead.error, "dead-lettering record");
            }
            for refused in &batch.refused {
                tracing::warn!(partition, offset = refused.offset, event_id = %refused.event_id,
                    handler = refused.handler, reason = %refused.error, "dead-lettering event");
            }
            let written = self
                .retry(&cancel, "store batch", || {
                    store::write(&self.pool, &self.days, &self.topic, partition, next, &batch)
                })
                .await;
            let Some(inserted) = written else { break };
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
