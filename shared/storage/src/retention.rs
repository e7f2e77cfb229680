//! Retention: each project keeps `retention_days` whole UTC days of events.
//! Day partitions every project has expired (older than the longest
//! retention) are dropped whole; the rest of an expired day, its event ids
//! and its rollups are deleted in small batches (short transactions, no
//! long locks, progress as it goes). The cut-off is a UTC midnight, so
//! rollups keep matching the raw rows.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::{StorageError, partitions, utc};

/// Retention of a new project, in days (the `projects.retention_days` default).
pub const DEFAULT_RETENTION_DAYS: i32 = 30;
/// Rows one delete statement removes at most.
const DELETE_BATCH: i64 = 10_000;
/// Arbitrary constant naming the retention lock: one job at a time.
const RETENTION_LOCK: i64 = 0x000B_0058;

/// What one project's run removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expired {
    /// The project.
    pub project_id: Uuid,
    /// Events before this UTC midnight were removed.
    pub cutoff: Option<SystemTime>,
    /// Events deleted row by row (dropped partitions are not counted here).
    pub events: u64,
    /// Event ids deleted (the dedup keys of expired events).
    pub event_ids: u64,
    /// Hourly and daily rollup rows deleted.
    pub rollup_rows: u64,
}

/// The UTC midnight `days` days before the day of `now`.
pub fn cutoff(now: SystemTime, days: i32) -> SystemTime {
    let today = utc::secs(utc::floor(now, utc::DAY));
    let back = u64::try_from(days.max(0)).unwrap_or_default() * utc::DAY.as_secs();
    utc::at(today.saturating_sub(back))
}

/// Sets a project's retention; false when the project does not exist.
pub async fn set_days(
    client: &impl GenericClient,
    project_id: Uuid,
    days: i32,
) -> Result<bool, StorageError> {
    let updated = client
        .execute(
            "UPDATE projects SET retention_days = $2 WHERE id = $1",
            &[&project_id, &days],
        )
        .await
        .map_err(|e| StorageError::query("set retention", e))?;
    Ok(updated == 1)
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Day partitions dropped, oldest first.
    pub dropped: Vec<String>,
    /// Per project, in id order.
    pub projects: Vec<Expired>,
}

/// Runs retention for every project, unless another run holds the lock
/// (then `None`). `progress` hears each project's result as it finishes.
pub async fn run(
    client: &impl GenericClient,
    now: SystemTime,
    mut progress: impl FnMut(&Expired),
) -> Result<Option<Report>, StorageError> {
    let locked: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&RETENTION_LOCK])
        .await
        .map_err(|e| StorageError::query("take retention lock", e))?
        .get(0);
    if !locked {
        return Ok(None);
    }
    let result = expire_all(client, now, &mut progress).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&RETENTION_LOCK])
        .await;
    let report = result?;
    unlocked.map_err(|e| StorageError::query("release retention lock", e))?;
    Ok(Some(report))
}

async fn expire_all(
    client: &impl GenericClient,
    now: SystemTime,
    progress: &mut impl FnMut(&Expired),
) -> Result<Report, StorageError> {
    let projects = client
        .query("SELECT id, retention_days FROM projects ORDER BY id", &[])
        .await
        .map_err(|e| StorageError::query("list retention", e))?;
    let longest = projects
        .iter()
        .map(|row| row.get::<_, i32>(1))
        .max()
        .unwrap_or(DEFAULT_RETENTION_DAYS);
    let mut report = Report {
        dropped: partitions::drop_before(client, cutoff(now, longest)).await?,
        projects: Vec::with_capacity(projects.len()),
    };
    for row in projects {
        let project_id: Uuid = row.get(0);
        let before = cutoff(now, row.get(1));
        let expired = Expired {
            project_id,
            cutoff: Some(before),
            events: delete_batched(
                client,
                // ctid repeats across partitions: tableoid tells them apart.
                "DELETE FROM events WHERE (tableoid, ctid) IN (SELECT tableoid, ctid \
                 FROM events WHERE project_id = $1 AND occurred_at < $2 LIMIT $3)",
                project_id,
                before,
            )
            .await?,
            event_ids: delete_batched(
                client,
                "DELETE FROM event_ids WHERE ctid IN (SELECT ctid FROM event_ids \
                 WHERE project_id = $1 AND occurred_at < $2 LIMIT $3)",
                project_id,
                before,
            )
            .await?,
            rollup_rows: delete_batched(
                client,
                "DELETE FROM event_rollups_hourly WHERE ctid IN (SELECT ctid FROM \
                 event_rollups_hourly WHERE project_id = $1 AND hour < $2 LIMIT $3)",
                project_id,
                before,
            )
            .await?
                + delete_batched(
                    client,
                    "DELETE FROM event_rollups_daily WHERE ctid IN (SELECT ctid FROM \
                     event_rollups_daily WHERE project_id = $1 AND day < $2 LIMIT $3)",
                    project_id,
                    before,
                )
                .await?,
        };
        progress(&expired);
        report.projects.push(expired);
    }
    Ok(report)
}

/// Repeats a `LIMIT $3` delete of `project_id`'s rows before `before` until
/// it removes nothing; each statement is its own short transaction.
async fn delete_batched(
    client: &impl GenericClient,
    statement: &str,
    project_id: Uuid,
    before: SystemTime,
) -> Result<u64, StorageError> {
    let mut total = 0;
    loop {
        let deleted = client
            .execute(statement, &[&project_id, &before, &DELETE_BATCH])
            .await
            .map_err(|e| StorageError::query("expire rows", e))?;
        total += deleted;
        if deleted < DELETE_BATCH as u64 {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cutoff_is_a_utc_midnight_days_back() {
        let day = utc::DAY.as_secs();
        let noon = utc::at(100 * day + 12 * 3600);
        assert_eq!(cutoff(noon, 30), utc::at(70 * day));
        assert_eq!(cutoff(noon, 1), utc::at(99 * day));
    }
}
