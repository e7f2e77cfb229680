//! The operator's side of offset conflicts: see how each partition's stored
//! offset fits the broker's log, and move it (audited) when it does not.
//! `boost-offsets` is the command line over these functions; a held
//! processor notices the moved offset within a second and resumes.

use anyhow::Context;
use boost_kafka::{
    KafkaArgs,
    client::{self, partition_client},
    rskafka::client::Client,
};
use boost_storage::{
    Pool,
    offsets::{self, LogKey, Reset, StoredOffset},
};

use crate::offset_check::{self, LogView, OffsetConflict};

/// Bytes one probe fetch may return (only the high watermark and at most
/// one record are used).
const PROBE_MAX_BYTES: i32 = 1 << 16;
/// How long a probe fetch waits for data (ms; the broker refuses 0).
const PROBE_WAIT_MS: i32 = 10;

/// Where to move a partition's offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTarget {
    /// The first offset the broker still holds: replays everything it has
    /// (stored events are deduplicated by id).
    LogStart,
    /// A chosen offset between the log start and the high watermark.
    Offset(i64),
}

impl std::str::FromStr for ResetTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "earliest" | "log-start" => Ok(ResetTarget::LogStart),
            n => n
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(ResetTarget::Offset)
                .ok_or_else(|| format!("{s:?} is neither `earliest` nor an offset ≥ 0")),
        }
    }
}

/// One partition as the operator sees it.
#[derive(Debug)]
pub struct PartitionReport {
    /// The partition.
    pub partition: i32,
    /// Its stored position, if any.
    pub stored: Option<StoredOffset>,
    /// The broker's view around it.
    pub log: LogView,
    /// Why the stored offset does not fit, if it does not.
    pub conflict: Option<OffsetConflict>,
}

/// The broker log an operator acts on: a connected client and its key.
pub struct Target {
    /// Kafka client.
    pub kafka: Client,
    /// The cluster id the brokers report.
    pub cluster_id: String,
    /// The events topic.
    pub topic: String,
    /// Partitions of the topic.
    pub partitions: i32,
}

impl Target {
    /// Connects to the brokers of `args`.
    pub async fn connect(args: &KafkaArgs) -> anyhow::Result<Self> {
        let kafka = client::connect(args, "boost-offsets").await?;
        let cluster_id = client::cluster_id(&kafka).await?;
        Ok(Self {
            kafka,
            cluster_id,
            topic: args.topic.clone(),
            partitions: args.partitions,
        })
    }

    fn log(&self) -> LogKey<'_> {
        LogKey {
            cluster_id: &self.cluster_id,
            topic: &self.topic,
        }
    }

    /// Every partition's stored offset against the broker's log.
    pub async fn inspect(&self, pool: &Pool) -> anyhow::Result<Vec<PartitionReport>> {
        let mut stored = offsets::load(&pool.get().await?, &self.log()).await?;
        let mut reports = Vec::new();
        for partition in 0..self.partitions {
            let client = partition_client(&self.kafka, &self.topic, partition).await?;
            let stored = stored.remove(&partition);
            let probe_at = stored.clone().unwrap_or(StoredOffset::unstored(0));
            let log =
                offset_check::probe(&client, &probe_at, PROBE_MAX_BYTES, PROBE_WAIT_MS).await?;
            let conflict = stored
                .as_ref()
                .and_then(|s| offset_check::check(s, &log).err());
            reports.push(PartitionReport {
                partition,
                stored,
                log,
                conflict,
            });
        }
        Ok(reports)
    }

    /// Moves `partition`'s stored offset to `target` (which must lie inside
    /// the broker's log) with an audit entry. Returns (previous, new).
    pub async fn reset(
        &self,
        pool: &Pool,
        partition: i32,
        target: ResetTarget,
        reason: &str,
    ) -> anyhow::Result<(Option<i64>, i64)> {
        anyhow::ensure!(
            (0..self.partitions).contains(&partition),
            "partition {partition} does not exist (the topic has {})",
            self.partitions
        );
        let client = partition_client(&self.kafka, &self.topic, partition).await?;
        let LogView {
            log_start,
            high_watermark,
            ..
        } = offset_check::probe(
            &client,
            &StoredOffset::unstored(0),
            PROBE_MAX_BYTES,
            PROBE_WAIT_MS,
        )
        .await?;
        let to = match target {
            ResetTarget::LogStart => log_start,
            ResetTarget::Offset(offset) => offset,
        };
        anyhow::ensure!(
            (log_start..=high_watermark).contains(&to),
            "offset {to} is outside the broker's log of partition {partition} ({log_start}..={high_watermark})"
        );
        let mut connection = pool.get().await.context("database connection")?;
        let reset = Reset {
            partition,
            to,
            reason,
        };
        let previous = offsets::reset(&mut connection, &self.log(), &reset).await?;
        Ok((previous, to))
    }
}
