//! The producer: one task per partition owns that partition's client.
//!
//! Callers hand a record to the task through a bounded queue and wait for the
//! broker's acknowledgement on a oneshot with their own deadline. A deadline
//! that passes only stops the waiting; the produce itself runs to completion
//! in the task, because dropping an rskafka produce mid-send poisons the
//! connection. Records waiting in the queue are sent together, up to a byte
//! bound, so concurrent callers share broker round trips.

use std::{sync::Arc, time::Duration};

use rskafka::{
    client::{
        Client,
        partition::{Compression, PartitionClient},
    },
    record::Record,
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

use crate::{
    KafkaArgs,
    client::{KafkaError, partition_client},
};

/// Records one partition's queue may hold before callers get "buffer full".
const QUEUE_CAPACITY: usize = 4_096;
/// Upper bound of one produce request (the default broker breaks near 700 KB).
const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// Why a record was not acknowledged.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProduceError {
    /// The partition's queue is full: the caller should retry later.
    #[error("producer buffer full")]
    BufferFull,
    /// No acknowledgement within the caller's deadline; the record may still land.
    #[error("broker did not acknowledge within {0:?}")]
    Timeout(Duration),
    /// The broker refused or could not be reached.
    #[error("produce failed: {0}")]
    Broker(Arc<str>),
    /// The producer is shutting down.
    #[error("producer stopped")]
    Stopped,
}

/// Where an acknowledged record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// Partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
}

struct Job {
    record: Record,
    reply: oneshot::Sender<Result<i64, ProduceError>>,
}

/// Sends records to the events topic; cheap to clone.
#[derive(Clone)]
pub struct Producer {
    /// One queue per partition, indexed by partition number.
    queues: Arc<[mpsc::Sender<Job>]>,
}

impl Producer {
    /// Opens every partition of the topic and starts their tasks on `tracker`.
    /// The tasks end once every clone of the producer is dropped and their
    /// queues are drained.
    pub async fn start(
        client: &Client,
        args: &KafkaArgs,
        compression: Compression,
        tracker: &TaskTracker,
    ) -> Result<Self, KafkaError> {
        let mut queues = Vec::with_capacity(args.partitions as usize);
        for partition in 0..args.partitions {
            let partition_client = partition_client(client, &args.topic, partition).await?;
            let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
            tracker.spawn(run_partition(partition_client, receiver, compression));
            queues.push(sender);
        }
        Ok(Self {
            queues: queues.into(),
        })
    }

    /// Partitions the producer writes to.
    pub fn partitions(&self) -> usize {
        self.queues.len()
    }

    /// Sends `record` to the partition chosen by `key` and waits at most
    /// `deadline` for the broker's acknowledgement.
    pub async fn send(
        &self,
        key: &[u8],
        record: Record,
        deadline: Duration,
    ) -> Result<Ack, ProduceError> {
        self.send_to(self.partition_for(key), record, deadline)
            .await
    }

    /// The partition `key` maps to: the same key always lands on the same
    /// partition, which keeps one user's events in order.
    pub fn partition_for(&self, key: &[u8]) -> i32 {
        (crc32fast::hash(key) as usize % self.queues.len()) as i32
    }

    /// Sends `record` to `partition` and waits at most `deadline` for the
    /// broker's acknowledgement.
    pub async fn send_to(
        &self,
        partition: i32,
        record: Record,
        deadline: Duration,
    ) -> Result<Ack, ProduceError> {
        let (reply, answer) = oneshot::channel();
        self.queues[partition as usize]
            .try_send(Job { record, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => ProduceError::BufferFull,
                mpsc::error::TrySendError::Closed(_) => ProduceError::Stopped,
            })?;
        match tokio::time::timeout(deadline, answer).await {
            Ok(Ok(result)) => result.map(|offset| Ack { partition, offset }),
            Ok(Err(_)) => Err(ProduceError::Stopped),
            Err(_) => Err(ProduceError::Timeout(deadline)),
        }
    }
}

/// Owns one partition client: takes what is queued, produces it as one
/// request, answers every waiting caller.
async fn run_partition(
    client: PartitionClient,
    mut queue: mpsc::Receiver<Job>,
    compression: Compression,
) {
    let partition = client.partition();
    while let Some(first) = queue.recv().await {
        let mut bytes = first.record.approximate_size();
        let mut jobs = vec![first];
        while bytes < MAX_REQUEST_BYTES {
            match queue.try_recv() {
                Ok(job) => {
                    bytes += job.record.approximate_size();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let (records, replies): (Vec<_>, Vec<_>) =
            jobs.into_iter().map(|j| (j.record, j.reply)).unzip();
        let count = records.len();
        match client.produce(records, compression).await {
            Ok(offsets) => {
                for (reply, offset) in replies.into_iter().zip(offsets) {
                    let _ = reply.send(Ok(offset));
                }
            }
            Err(err) => {
                tracing::warn!(partition, records = count, error = %err, "produce failed");
                let err = ProduceError::Broker(err.to_string().into());
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }
    tracing::debug!(partition, "producer task stopped");
}
