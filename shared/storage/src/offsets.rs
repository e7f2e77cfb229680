//! The processor's Kafka consumer offsets. They are saved in the same
//! transaction as the rows a batch produced, so a crash replays, never skips.
//!
//! Offsets belong to one broker log: they are keyed by the cluster id the
//! brokers report as well as the topic, and each keeps the SHA-256 of the
//! last stored record's value, so the processor can tell a reset broker (same
//! cluster id, new log) from the one the offsets were stored against.
//! Moving an offset by hand is [`reset`]: one audited transaction.

use std::{collections::HashMap, time::SystemTime};

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use crate::{
    StorageError,
    audit::{self, AuditEntry},
};

/// Which broker log a set of offsets belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogKey<'a> {
    /// The cluster id the brokers report ('' when they report none).
    pub cluster_id: &'a str,
    /// The events topic.
    pub topic: &'a str,
}

/// A partition's stored position, as the last batch (or reset) left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOffset {
    /// Next offset to read: everything before it is stored.
    pub next_offset: i64,
    /// SHA-256 of the value of the record at `next_offset - 1`; `None`
    /// after a reset or for offsets stored before it was kept.
    pub last_record_sha256: Option<Vec<u8>>,
    /// When the row last changed; a change while a partition waits on a
    /// conflict means an operator moved it.
    pub updated_at: SystemTime,
}

impl StoredOffset {
    /// A position with no stored row behind it (nothing stored yet for the
    /// partition), for checking `next_offset` against the broker's log.
    pub fn unstored(next_offset: i64) -> Self {
        Self {
            next_offset,
            last_record_sha256: None,
            updated_at: SystemTime::UNIX_EPOCH,
        }
    }
}

impl From<&Row> for StoredOffset {
    fn from(row: &Row) -> Self {
        Self {
            next_offset: row.get("next_offset"),
            last_record_sha256: row.get("last_record_sha256"),
            updated_at: row.get("updated_at"),
        }
    }
}

const SELECT: &str = "SELECT partition, next_offset, last_record_sha256, updated_at
     FROM consumer_offsets WHERE cluster_id = $1 AND topic = $2";

/// The stored position of every partition of `log` that has one.
pub async fn load(
    client: &impl GenericClient,
    log: &LogKey<'_>,
) -> Result<HashMap<i32, StoredOffset>, StorageError> {
    let rows = client
        .query(SELECT, &[&log.cluster_id, &log.topic])
        .await
        .map_err(|e| StorageError::query("load offsets", e))?;
    Ok(rows
        .iter()
        .map(|r| (r.get("partition"), StoredOffset::from(r)))
        .collect())
}

/// The stored position of one partition of `log`.
pub async fn load_one(
    client: &impl GenericClient,
    log: &LogKey<'_>,
    partition: i32,
) -> Result<Option<StoredOffset>, StorageError> {
    let row = client
        .query_opt(
            &format!("{SELECT} AND partition = $3"),
            &[&log.cluster_id, &log.topic, &partition],
        )
        .await
        .map_err(|e| StorageError::query("load offset", e))?;
    Ok(row.as_ref().map(StoredOffset::from))
}

/// Gives offsets stored before they were keyed by cluster (cluster id '')
/// to `log`'s cluster, unless it has offsets of its own. Returns how many
/// partitions were adopted; their log is still checked before use.
pub async fn adopt_unkeyed(
    client: &impl GenericClient,
    log: &LogKey<'_>,
) -> Result<u64, StorageError> {
    if log.cluster_id.is_empty() {
        return Ok(0);
    }
    client
        .execute(
            "UPDATE consumer_offsets SET cluster_id = $1
             WHERE cluster_id = '' AND topic = $2
               AND NOT EXISTS (SELECT 1 FROM consumer_offsets WHERE cluster_id = $1 AND topic = $2)",
            &[&log.cluster_id, &log.topic],
        )
        .await
        .map_err(|e| StorageError::query("adopt offsets", e))
}

/// Records that everything before `next_offset` of a partition is stored,
/// and the digest of the record just before it.
pub async fn save(
    client: &impl GenericClient,
    log: &LogKey<'_>,
    partition: i32,
    next_offset: i64,
    last_record_sha256: &[u8],
) -> Result<(), StorageError> {
    let statement = client
        .prepare_cached(
            "INSERT INTO consumer_offsets (cluster_id, topic, partition, next_offset, last_record_sha256)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (cluster_id, topic, partition)
             DO UPDATE SET next_offset = EXCLUDED.next_offset,
                           last_record_sha256 = EXCLUDED.last_record_sha256,
                           updated_at = clock_timestamp()",
        )
        .await
        .map_err(|e| StorageError::query("prepare save offset", e))?;
    client
        .execute(
            &statement,
            &[
                &log.cluster_id,
                &log.topic,
                &partition,
                &next_offset,
                &last_record_sha256,
            ],
        )
        .await
        .map_err(|e| StorageError::query("save offset", e))?;
    Ok(())
}

/// An operator's decision to move a partition's stored offset.
#[derive(Debug, Clone)]
pub struct Reset<'a> {
    /// The partition.
    pub partition: i32,
    /// The new next offset.
    pub to: i64,
    /// Why, for the audit log.
    pub reason: &'a str,
}

/// Moves a partition's offset and appends `consumer_offsets.reset` to the
/// audit log in one transaction. The digest is cleared (there is no stored
/// record to compare against). Returns the offset it replaced, if any.
pub async fn reset(
    client: &mut deadpool_postgres::Object,
    log: &LogKey<'_>,
    reset: &Reset<'_>,
) -> Result<Option<i64>, StorageError> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| StorageError::query("begin", e))?;
    let previous: Option<i64> = tx
        .query_opt(
            "SELECT next_offset FROM consumer_offsets
             WHERE cluster_id = $1 AND topic = $2 AND partition = $3 FOR UPDATE",
            &[&log.cluster_id, &log.topic, &reset.partition],
        )
        .await
        .map_err(|e| StorageError::query("lock offset", e))?
        .map(|row| row.get(0));
    tx.execute(
        "INSERT INTO consumer_offsets (cluster_id, topic, partition, next_offset, last_record_sha256)
         VALUES ($1, $2, $3, $4, NULL)
         ON CONFLICT (cluster_id, topic, partition)
         DO UPDATE SET next_offset = EXCLUDED.next_offset, last_record_sha256 = NULL,
                       updated_at = clock_timestamp()",
        &[&log.cluster_id, &log.topic, &reset.partition, &reset.to],
    )
    .await
    .map_err(|e| StorageError::query("reset offset", e))?;
    audit::append(
        &tx,
        &AuditEntry {
            actor: "operator",
            action: "consumer_offsets.reset",
            project_id: None,
            target_id: None,
            details: serde_json::json!({
                "cluster_id": log.cluster_id,
                "topic": log.topic,
                "partition": reset.partition,
                "from": previous,
                "to": reset.to,
                "reason": reset.reason,
            }),
        },
    )
    .await?;
    tx.commit()
        .await
        .map_err(|e| StorageError::query("commit", e))?;
    Ok(previous)
}
