//! The fast duplicate check: Redis remembers accepted event ids for a window
//! and ingest answers DUPLICATE early. The `(project, event_id)` primary key
//! in PostgreSQL stays the final word.
//!
//! Ids are looked up before producing and marked only after the broker
//! acknowledged them: an event whose produce failed is never remembered, so
//! its retry is not wrongly called a duplicate. Two concurrent copies may both
//! be produced; the database stores one. With Redis down nothing is reported
//! DUPLICATE early and nothing is lost.
//!
//! Only the lookup is on a request's path. Marks go to one background task
//! that writes everything queued meanwhile in one pipeline, so many requests
//! share a round trip; until it is written an id is answered from the
//! instance's own pending set, so a retry to the same instance right after
//! the acknowledgement is still DUPLICATE. The marker has a Redis connection
//! of its own: Redis answers one connection's commands in order, and a
//! lookup must not queue behind a pipeline of marks.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use boost_storage::redis::fred::{
    clients::Client,
    interfaces::{ClientLike, KeysInterface},
    types::{Expiration, Value},
};
use tokio::sync::mpsc;
use uuid::Uuid;

/// Most ids waiting to be marked; past it marks are dropped (and counted as
/// `dedup_mark` Redis errors): the database still dedups them.
const MAX_PENDING_MARKS: usize = 100_000;
/// Most ids one pipeline of marks writes.
const MAX_MARKS_PER_PIPELINE: usize = 5_000;

/// Remembers accepted event ids per project.
#[derive(Clone)]
pub struct Dedup {
    /// Lookups.
    redis: Client,
    /// The marker's own connection (to tell whether marks can be written).
    writer: Client,
    /// Keys handed to the marker and not yet written.
    pending: Arc<Mutex<HashSet<String>>>,
    /// To the marker task.
    marks: mpsc::UnboundedSender<Vec<String>>,
}

fn key(project: Uuid, event_id: &str) -> String {
    format!("boost:dedup:{project}:{event_id}")
}

impl Dedup {
    /// A dedup over `redis` remembering ids for `window`; opens a second
    /// connection with `redis`'s settings for the marker task, which ends
    /// once every clone is dropped.
    pub fn new(redis: Client, window: Duration) -> Self {
        let writer = redis.clone_new();
        // connect() spawns the connection task; dropping its handle detaches it.
        drop(writer.connect());
        let pending = Arc::new(Mutex::new(HashSet::new()));
        let (marks, queued) = mpsc::unbounded_channel();
        tokio::spawn(write_marks(
            writer.clone(),
            window,
            Arc::clone(&pending),
            queued,
        ));
        Self {
            redis,
            writer,
            pending,
            marks,
        }
    }

    /// Whether each id was accepted before; all `false` when Redis is down
    /// and nothing is pending.
    pub async fn seen(&self, project: Uuid, event_ids: &[&str]) -> Vec<bool> {
        if event_ids.is_empty() {
            return Vec::new();
        }
        let keys: Vec<String> = event_ids.iter().map(|id| key(project, id)).collect();
        let pending: Vec<bool> = {
            let pending = self.pending.lock().expect("dedup pending set");
            keys.iter().map(|k| pending.contains(k)).collect()
        };
        let stored = match self.redis.mget::<Vec<Value>, _>(keys).await {
            Ok(values) if values.len() == event_ids.len() => {
                values.iter().map(|v| !v.is_null()).collect()
            }
            Ok(_) => vec![false; event_ids.len()],
            Err(e) => {
                boost_storage::redis::count_error("dedup_check");
                tracing::debug!(error = %e, "dedup lookup failed; relying on the database");
                vec![false; event_ids.len()]
            }
        };
        pending
            .into_iter()
            .zip(stored)
            .map(|(p, s)| p || s)
            .collect()
    }

    /// Remembers ids the broker acknowledged, without waiting for Redis:
    /// the marker writes them with the next pipeline.
    pub fn mark(&self, project: Uuid, event_ids: &[&str]) {
        if event_ids.is_empty() || !self.writer.is_connected() {
            return;
        }
        let keys: Vec<String> = event_ids.iter().map(|id| key(project, id)).collect();
        {
            let mut pending = self.pending.lock().expect("dedup pending set");
            if pending.len() + keys.len() > MAX_PENDING_MARKS {
                boost_storage::redis::count_error("dedup_mark");
                tracing::debug!(
                    ids = keys.len(),
                    "dedup marks dropped: too many waiting; relying on the database"
                );
                return;
            }
            pending.extend(keys.iter().cloned());
        }
        if let Err(mpsc::error::SendError(keys)) = self.marks.send(keys) {
            forget(&self.pending, &keys);
        }
    }
}

fn forget(pending: &Mutex<HashSet<String>>, keys: &[String]) {
    let mut pending = pending.lock().expect("dedup pending set");
    for key in keys {
        pending.remove(key);
    }
}

/// The marker: writes every queued mark in one pipeline of `SET key 1 EX
/// window`, then drops them from the pending set (written or failed).
async fn write_marks(
    redis: Client,
    window: Duration,
    pending: Arc<Mutex<HashSet<String>>>,
    mut queued: mpsc::UnboundedReceiver<Vec<String>>,
) {
    let seconds = window.as_secs().max(1) as i64;
    while let Some(mut keys) = queued.recv().await {
        while keys.len() < MAX_MARKS_PER_PIPELINE {
            match queued.try_recv() {
                Ok(more) => keys.extend(more),
                Err(_) => break,
            }
        }
        let pipeline = redis.pipeline();
        for key in &keys {
            let _: Result<(), _> = pipeline
                .set(key.as_str(), 1, Some(Expiration::EX(seconds)), None, false)
                .await;
        }
        if let Err(e) = pipeline.all::<Vec<Value>>().await {
            boost_storage::redis::count_error("dedup_mark");
            tracing::debug!(error = %e, "dedup mark failed");
        }
        forget(&pending, &keys);
    }
}
