//! The retention job: at start-up and then every interval, each project's
//! events (and rollups) older than its `retention_days` are removed: whole
//! day partitions when every project has expired them, in batches otherwise. Only
//! one run happens at a time across instances (an advisory lock); an
//! instance that finds the lock taken skips its turn.

use std::time::{Duration, SystemTime};

use boost_server::error::error_chain;
use boost_storage::{Pool, retention};
use tokio_util::sync::CancellationToken;

/// Runs retention now and every `interval` until `cancel`.
pub async fn run_daily(pool: Pool, interval: Duration, cancel: CancellationToken) {
    loop {
        run_once(&pool).await;
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

async fn run_once(pool: &Pool) {
    let client = match pool.get().await {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "retention skipped: no database connection");
            return;
        }
    };
    let report = retention::run(&client, SystemTime::now(), |expired| {
        if expired.events + expired.event_ids + expired.rollup_rows > 0 {
            tracing::info!(project = %expired.project_id, events = expired.events,
                event_ids = expired.event_ids, rollup_rows = expired.rollup_rows,
                "expired old events");
        }
    })
    .await;
    match report {
        Ok(Some(report)) => {
            if !report.dropped.is_empty() {
                tracing::info!(partitions = ?report.dropped, "dropped expired day partitions");
            }
            tracing::debug!(projects = report.projects.len(), "retention done");
        }
        Ok(None) => tracing::debug!("retention running elsewhere; skipped"),
        Err(e) => tracing::warn!(error = %error_chain(&e), "retention failed; next run retries"),
    }
}
