//! Records the processor could not store as events, kept with the reason so
//! nothing acknowledged silently disappears.

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::StorageError;

/// A record that could not be stored as events.
#[derive(Debug, Clone)]
pub struct DeadLetter<'a> {
    /// Kafka topic.
    pub topic: &'a str,
    /// Kafka partition.
    pub partition: i32,
    /// Kafka offset.
    pub offset: i64,
    /// Project, when the record could be read that far.
    pub project_id: Option<Uuid>,
    /// Why it failed.
    pub error: &'a str,
    /// The raw record value.
    pub payload: &'a [u8],
}

/// Stores a dead letter; storing the same record twice is a no-op.
pub async fn insert(
    client: &impl GenericClient,
    letter: &DeadLetter<'_>,
) -> Result<(), StorageError> {
    client
        .execute(
            "INSERT INTO dead_letters (topic, partition, \"offset\", project_id, error, payload)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (topic, partition, \"offset\") DO NOTHING",
            &[
                &letter.topic,
                &letter.partition,
                &letter.offset,
                &letter.project_id,
                &letter.error,
                &letter.payload,
            ],
        )
        .await
        .map_err(|e| StorageError::query("insert dead letter", e))?;
    Ok(())
}
