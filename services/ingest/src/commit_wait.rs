//! The processor's stored watermarks, heard over Redis pub/sub: a COMMITTED
//! acknowledgement waits here until its partition's watermark passes the
//! offset the broker gave its record.
//!
//! Each partition keeps only the latest watermark (a `watch` channel), so a
//! waiter that arrives after the message still sees it. A message missed
//! (e.g. while the subscriber reconnects) is made up by re-reading the
//! processor's watermark keys while anyone waits; a waiter that learns
//! nothing in time answers with `stored` false, never with an error.

use std::{sync::Arc, time::Duration};

use boost_storage::redis::{
    fred::{
        clients::{Client, SubscriberClient},
        interfaces::{EventInterface, KeysInterface, PubsubInterface},
    },
    watermarks,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often a listener with waiters re-reads the watermark keys.
const CATCH_UP: Duration = Duration::from_millis(250);

/// Latest stored watermark (next offset to store) per partition; -1 unknown.
pub struct StoredWatermarks {
    /// Indexed by partition.
    partitions: Vec<watch::Sender<i64>>,
}

impl StoredWatermarks {
    /// Watermarks for a topic of `partitions` partitions, all unknown.
    pub fn new(partitions: i32) -> Arc<Self> {
        Arc::new(Self {
            partitions: (0..partitions).map(|_| watch::channel(-1).0).collect(),
        })
    }

    /// Records a message's (partition, next offset) pairs; watermarks only move forward.
    pub fn apply(&self, moved: &[(i32, i64)]) {
        for &(partition, next_offset) in moved {
            if let Some(sender) = usize::try_from(partition)
                .ok()
                .and_then(|p| self.partitions.get(p))
            {
                sender.send_if_modified(|current| {
                    let moved = next_offset > *current;
                    if moved {
                        *current = next_offset;
                    }
                    moved
                });
            }
        }
    }

    /// Whether the record at `offset` of `partition` is stored within `timeout`.
    pub async fn wait_stored(&self, partition: i32, offset: i64, timeout: Duration) -> bool {
        let Some(sender) = usize::try_from(partition)
            .ok()
            .and_then(|p| self.partitions.get(p))
        else {
            return false;
        };
        let mut watermark = sender.subscribe();
        tokio::time::timeout(timeout, watermark.wait_for(|next| *next > offset))
            .await
            .is_ok_and(|seen| seen.is_ok())
    }

    /// Reads every partition's watermark key (one MGET).
    async fn catch_up(&self, redis: &Client, names: &watermarks::Names) {
        let keys: Vec<String> = (0..self.partitions.len() as i32)
            .map(|p| names.key(p))
            .collect();
        let stored: Result<Vec<Option<i64>>, _> = redis.mget(keys).await;
        if let Ok(stored) = stored {
            let moved: Vec<(i32, i64)> = stored
                .into_iter()
                .enumerate()
                .filter_map(|(p, offset)| Some((p as i32, offset?)))
                .collect();
            self.apply(&moved);
        }
    }

    /// Whether anyone waits on some partition.
    fn waited_on(&self) -> bool {
        self.partitions.iter().any(|p| p.receiver_count() > 0)
    }

    /// Applies every message on the log's watermark channel until `cancel`;
    /// while anyone waits, also re-reads the keys every [`CATCH_UP`], so a
    /// message missed (subscriber reconnecting) delays an answer by that
    /// much at most.
    pub async fn listen(
        self: Arc<Self>,
        subscriber: SubscriberClient,
        redis: Client,
        names: watermarks::Names,
        cancel: CancellationToken,
    ) {
        let channel = names.channel();
        let mut messages = subscriber.message_rx();
        if let Err(e) = subscriber.subscribe(channel).await {
            // manage_subscriptions re-subscribes once Redis is back.
            tracing::warn!(error = %e, "cannot subscribe to stored watermarks yet");
        }
        let mut catch_up = tokio::time::interval(CATCH_UP);
        catch_up.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let message = tokio::select! {
                () = cancel.cancelled() => break,
                _ = catch_up.tick() => {
                    if self.waited_on() {
                        self.catch_up(&redis, &names).await;
                    }
                    continue;
                }
                message = messages.recv() => message,
            };
            match message {
                Ok(message) => {
                    if let Some(text) = message.value.as_str() {
                        self.apply(&watermarks::decode(&text));
                    }
                }
                // Missed messages: the next one carries the newer watermark.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn test_waits_until_the_watermark_passes_the_offset() {
        let marks = StoredWatermarks::new(2);
        marks.apply(&[(1, 10)]);
        // Offset 9 of partition 1 is stored (next is 10); offset 10 is not.
        assert!(marks.wait_stored(1, 9, Duration::ZERO).await);
        assert!(!marks.wait_stored(1, 10, Duration::from_millis(10)).await);
        let waiting = {
            let marks = marks.clone();
            tokio::spawn(async move { marks.wait_stored(1, 10, Duration::from_secs(5)).await })
        };
        marks.apply(&[(1, 11)]);
        assert!(waiting.await.expect("waiter"));
        // Watermarks never move back; unknown partitions never pass.
        marks.apply(&[(1, 3), (7, 100)]);
        assert!(marks.wait_stored(1, 10, Duration::ZERO).await);
        assert!(!marks.wait_stored(7, 1, Duration::ZERO).await);
        assert!(!marks.wait_stored(0, 0, Duration::ZERO).await);
    }
}
