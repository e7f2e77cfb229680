//! Day partitions of `events` (`events_YYYYMMDD`, one per UTC day of
//! `occurred_at`). The processor makes sure a batch's days exist before it
//! inserts, in its own short statement: creating a partition locks the
//! parent table, so it must not sit inside a batch transaction. Retention
//! drops the days every project has expired.

use std::{
    collections::HashSet,
    sync::Mutex,
    time::{Duration, SystemTime},
};

use deadpool_postgres::GenericClient;

use crate::StorageError;

const DAY: u64 = 24 * 3600;

fn day_of(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() / DAY)
        .unwrap_or_default()
}

/// `events_YYYYMMDD` of the UTC day holding `time`.
pub fn name(time: SystemTime) -> String {
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = day_of(time) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("events_{year:04}{month:02}{day:02}")
}

/// The days this process has seen to exist, so a batch costs no DDL round
/// trip once its day is known.
#[derive(Debug, Default)]
pub struct DayPartitions {
    /// Days since the epoch.
    known: Mutex<HashSet<u64>>,
}

impl DayPartitions {
    /// Creates the partitions of `times`' days that this process has not
    /// seen yet (one statement; existing ones are left alone).
    pub async fn ensure(
        &self,
        client: &impl GenericClient,
        times: impl IntoIterator<Item = SystemTime>,
    ) -> Result<(), StorageError> {
        let missing: Vec<u64> = {
            let known = self.known.lock().expect("partitions lock");
            let mut days: Vec<u64> = times
                .into_iter()
                .map(day_of)
                .filter(|d| !known.contains(d))
                .collect();
            days.sort_unstable();
            days.dedup();
            days
        };
        if missing.is_empty() {
            return Ok(());
        }
        let starts: Vec<SystemTime> = missing
            .iter()
            .map(|d| SystemTime::UNIX_EPOCH + Duration::from_secs(d * DAY))
            .collect();
        client
            .execute(
                "SELECT boost_event_partition(d) FROM unnest($1::timestamptz[]) d",
                &[&starts],
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
             WHERE i.inhparent = 'events'::regclass AND c.relname::text < $1
             ORDER BY 1",
            &[&name(before)],
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_are_utc_days() {
        let at = |secs: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(name(at(0)), "events_19700101");
        // 2026-11-23T23:59:59Z and the next second.
        assert_eq!(name(at(1_795_478_399)), "events_20261123");
        assert_eq!(name(at(1_795_478_400)), "events_20261124");
        // A leap day.
        assert_eq!(name(at(1_709_164_800)), "events_20240229");
    }
}
