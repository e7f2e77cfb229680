//! The processor's Kafka consumer offsets. They are saved in the same
//! transaction as the rows a batch produced, so a crash replays, never skips.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;

use crate::StorageError;

/// Next offset to read for every partition of `topic` that has one stored.
pub async fn load(
    client: &impl GenericClient,
    topic: &str,
) -> Result<HashMap<i32, i64>, StorageError> {
    let rows = client
        .query(
            "SELECT partition, next_offset FROM consumer_offsets WHERE topic = $1",
            &[&topic],
        )
        .await
        .map_err(|e| StorageError::query("load offsets", e))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Records that everything before `next_offset` of a partition is stored.
pub async fn save(
    client: &impl GenericClient,
    topic: &str,
    partition: i32,
    next_offset: i64,
) -> Result<(), StorageError> {
    let statement = client
        .prepare_cached(
            "INSERT INTO consumer_offsets (topic, partition, next_offset) VALUES ($1, $2, $3)
             ON CONFLICT (topic, partition)
             DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()",
        )
        .await
        .map_err(|e| StorageError::query("prepare save offset", e))?;
    client
        .execute(&statement, &[&topic, &partition, &next_offset])
        .await
        .map_err(|e| StorageError::query("save offset", e))?;
    Ok(())
}
