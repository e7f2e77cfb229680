//! Day partitions of `events` (`events_YYYYMMDD`, one per UTC day of
//! `occurred_at`). The processor makes sure a batch's days exist before it
//! inserts, in its own short statement: creating a partition locks the
//! parent table, so it must not sit inside a batch transaction. Retention
//! drops the days every project has expired. The partition names are made
//! in SQL only (`boost_event_partition()` and [`drop_before`]).

use std::{collections::HashSet, sync::Mutex, time::SystemTime};

use deadpool_postgres::GenericClient;

use crate::{StorageError, utc};

/// The days this process has seen to exist, so a batch costs no DDL round
/// trip once its day is known.
#[derive(Debug, Default)]
pub struct DayPartitions {
    /// UTC midnights.
    known: Mutex<HashSet<SystemTime>>,
}

impl DayPartitions {
    /// Creates the partitions of `times`' days that this process has not
    /// seen yet (one statement; existing ones are left alone).
    pub async fn ensure(
        &self,
        client: &impl GenericClient,
        times: impl IntoIterator<Item = SystemTime>,
    ) -> Result<(), StorageError> {
        let missing: Vec<SystemTime> = {
            let known = self.known.lock().expect("partitions lock");
            let mut days: Vec<SystemTime> = times
                .into_iter()
                .map(|t| utc::floor(t, utc::DAY))
                .filter(|d| !known.contains(d))
                .collect();
            days.sort_unstable();
            days.dedup();
            days
        };
        if missing.is_empty() {
            return Ok(());
        }
        client
            .execute(
                "SELECT boost_event_partition(d) FROM unnest($1::timestamptz[]) d",
                &[&missing],
            )
            .await
            .map_err(|e| StorageError::query("create day partitions", e))?;
        self.known.lock().expect("partitions lock").extend(missing);
        Ok(())
    }

    /// Forgets every known day (after a failed write: retention may have
    /// dropped a day this process still believed in).
    pub fn forget(&self) {
        self.known.lock().expect("partitions lock").clear();
    }
}

/// Drops every day partition wholly before `before` (a UTC midnight);
/// returns their names, oldest first.
pub async fn drop_before(
    client: &impl GenericClient,
    before: SystemTime,
) -> Result<Vec<String>, StorageError> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'events'::regclass
               AND c.relname::text < 'events_' || to_char($1::timestamptz AT TIME ZONE 'UTC', 'YYYYMMDD')
             ORDER BY 1",
            &[&before],
        )
        .await
        .map_err(|e| StorageError::query("list day partitions", e))?;
    let mut dropped = Vec::with_capacity(rows.len());
    for row in rows {
        let partition: String = row.get(0);
        // Names come from pg_class and match events_YYYYMMDD; quoted anyway.
        client
            .batch_execute(&format!("DROP TABLE IF EXISTS \"{partition}\""))
            .await
            .map_err(|e| StorageError::query("drop day partition", e))?;
        dropped.push(partition);
    }
    Ok(dropped)
}
