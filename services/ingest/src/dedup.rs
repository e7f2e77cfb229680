//! The fast duplicate check: Redis remembers accepted event ids for a window
//! and ingest answers DUPLICATE early. The `(project, event_id)` primary key
//! in PostgreSQL stays the final word.
//!
//! Ids are looked up before producing and marked only after the broker
//! acknowledged them: an event whose produce failed is never remembered, so
//! its retry is not wrongly called a duplicate. Two concurrent copies may both
//! be produced; the database stores one. With Redis down nothing is reported
//! DUPLICATE early and nothing is lost.

use std::time::Duration;

use boost_storage::redis::fred::{
    clients::Client,
    interfaces::{ClientLike, KeysInterface},
    types::{Expiration, Value},
};
use uuid::Uuid;

/// Remembers accepted event ids per project.
#[derive(Clone)]
pub struct Dedup {
    /// Redis commands.
    redis: Client,
    /// How long an id is remembered.
    window: Duration,
}

fn key(project: Uuid, event_id: &str) -> String {
    format!("boost:dedup:{project}:{event_id}")
}

impl Dedup {
    /// A dedup over `redis` remembering ids for `window`.
    pub fn new(redis: Client, window: Duration) -> Self {
        Self { redis, window }
    }

    /// Whether each id was accepted before; all `false` when Redis is down.
    pub async fn seen(&self, project: Uuid, event_ids: &[&str]) -> Vec<bool> {
        if event_ids.is_empty() {
            return Vec::new();
        }
        let keys: Vec<String> = event_ids.iter().map(|id| key(project, id)).collect();
        match self.redis.mget::<Vec<Value>, _>(keys).await {
            Ok(values) if values.len() == event_ids.len() => {
                values.iter().map(|v| !v.is_null()).collect()
            }
            Ok(_) => vec![false; event_ids.len()],
            Err(e) => {
                boost_storage::redis::count_error("dedup_check");
                tracing::debug!(error = %e, "dedup lookup failed; relying on the database");
                vec![false; event_ids.len()]
            }
        }
    }

    /// Remembers ids the broker acknowledged; failures are only logged.
    pub async fn mark(&self, project: Uuid, event_ids: &[&str]) {
        if event_ids.is_empty() || !self.redis.is_connected() {
            return;
        }
        let pipeline = self.redis.pipeline();
        let seconds = self.window.as_secs().max(1) as i64;
        for id in event_ids {
            let _: Result<(), _> = pipeline
                .set(
                    key(project, id),
                    1,
                    Some(Expiration::EX(seconds)),
                    None,
                    false,
                )
                .await;
        }
        if let Err(e) = pipeline.all::<Vec<Value>>().await {
            boost_storage::redis::count_error("dedup_mark");
            tracing::debug!(error = %e, "dedup mark failed");
        }
    }
}
