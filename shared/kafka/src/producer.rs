//! The producer: one task per partition owns that partition's client.
//!
//! Callers hand an [`EventBatchRecord`] to the task through a bounded queue and
//! wait for the broker's acknowledgement on a oneshot with their own deadline.
//! A deadline that passes only stops the waiting; the produce itself runs to
//! completion in the task, because dropping an rskafka produce mid-send
//! poisons the connection.
//!
//! Everything waiting in the queue goes out in one produce request, up to a
//! byte bound, and batches of the same project are **merged into one Kafka
//! record**: the default broker's cost is per record, so concurrent
//! single-event calls sharing a record is what makes them fast.
//!
//! What waits is bounded twice: batches per partition queue and encoded bytes
//! held by the whole producer, queued or in flight ([`QueueLimits`]). A
//! batch that finds either full is refused at once with
//! [`ProduceError::BufferFull`], so memory stays bounded whatever callers send.
//!
//! Each batch carries its sender's trace context (the span current at
//! [`Producer::send_to`]) into its record's headers; see [`crate::record`].

use std::{sync::Arc, time::Duration};

use boost_proto::{common::v1::EventBatchRecord, prost::Message};
use boost_server::trace_context::TraceHeaders;

use rskafka::{
    client::{
        Client,
        partition::{Compression, PartitionClient},
    },
    record::Record,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_util::task::TaskTracker;

use crate::{
    KafkaArgs,
    client::{KafkaError, partition_client},
};

/// Upper bound of one produce request (the default broker breaks near 700 KB).
const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// Upper bound of one Kafka record, merged here or split by ingest before
/// it: the one record size limit of Boost.
pub const MAX_RECORD_BYTES: usize = 128 * 1024;

/// How much one producer holds before it refuses batches with
/// [`ProduceError::BufferFull`].
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Batches queued per partition.
    pub batches: usize,
    /// Encoded batch bytes queued or in flight, all partitions together.
    pub bytes: usize,
}

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
    batch: EventBatchRecord,
    /// This batch's share of [`QueueLimits::bytes`], given back once the
    /// broker answered for it.
    bytes: Option<OwnedSemaphorePermit>,
    /// The sender's trace context, for the record's headers.
    trace: TraceHeaders,
    reply: oneshot::Sender<Result<i64, ProduceError>>,
}

/// Sends records to the events topic; cheap to clone.
#[derive(Clone)]
pub struct Producer {
    /// One queue per partition, indexed by partition number.
    queues: Arc<[mpsc::Sender<Job>]>,
    /// Encoded bytes the producer may still take ([`QueueLimits::bytes`]).
    bytes: Arc<Semaphore>,
}

impl Producer {
    /// Opens every partition of the topic and starts their tasks on `tracker`,
    /// compressing with `args.compression` and holding at most `limits`;
    /// beyond them callers get [`ProduceError::BufferFull`] at once.
    /// The tasks end once every clone of the producer is dropped and their
    /// queues are drained.
    pub async fn start(
        client: &Client,
        args: &KafkaArgs,
        limits: QueueLimits,
        tracker: &TaskTracker,
    ) -> Result<Self, KafkaError> {
        let mut queues = Vec::with_capacity(args.partitions as usize);
        for partition in 0..args.partitions {
            let partition_client = partition_client(client, &args.topic, partition).await?;
            let (sender, receiver) = mpsc::channel(limits.batches);
            tracker.spawn(run_partition(
                partition_client,
                receiver,
                args.compression.into(),
            ));
            queues.push(sender);
        }
        Ok(Self {
            queues: queues.into(),
            bytes: Arc::new(Semaphore::new(limits.bytes.min(Semaphore::MAX_PERMITS))),
        })
    }

    /// The partition `key` maps to: the same key always lands on the same
    /// partition, which keeps one user's events in order.
    pub fn partition_for(&self, key: &[u8]) -> i32 {
        (crc32fast::hash(key) as usize % self.queues.len()) as i32
    }

    /// Sends `batch` to `partition` (possibly merged with other batches of
    /// the same project into one record) and waits at most `deadline` for the
    /// broker's acknowledgement.
    pub async fn send_to(
        &self,
        partition: i32,
        batch: EventBatchRecord,
        deadline: Duration,
    ) -> Result<Ack, ProduceError> {
        let size = u32::try_from(batch.encoded_len()).unwrap_or(u32::MAX);
        let bytes = self
            .bytes
            .clone()
            .try_acquire_many_owned(size)
            .map_err(|_| ProduceError::BufferFull)?;
        let (reply, answer) = oneshot::channel();
        let trace = boost_server::trace_context::current_headers();
        self.queues[partition as usize]
            .try_send(Job {
                batch,
                bytes: Some(bytes),
                trace,
                reply,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => ProduceError::BufferFull,
                mpsc::error::TrySendError::Closed(_) => ProduceError::Stopped,
            })?;
        metrics::gauge!(QUEUE_BYTES).increment(f64::from(size));
        match tokio::time::timeout(deadline, answer).await {
            Ok(Ok(result)) => result.map(|offset| Ack { partition, offset }),
            Ok(Err(_)) => Err(ProduceError::Stopped),
            Err(_) => Err(ProduceError::Timeout(deadline)),
        }
    }
}

/// One produce request's time until the broker acknowledged (or refused) it.
const PRODUCE_SECONDS: &str = "boost_kafka_produce_seconds";
/// Encoded event batch bytes the broker acknowledged.
const PRODUCED_BYTES: &str = "boost_kafka_produced_bytes_total";
/// How full a partition's producer queue was when a request went out (0..1),
/// by `partition`; at 1 callers get "buffer full".
const QUEUE_FILL: &str = "boost_kafka_producer_queue_fill";
/// Encoded batch bytes the producer holds, queued or in flight (bounded by
/// [`QueueLimits::bytes`]).
const QUEUE_BYTES: &str = "boost_kafka_producer_queue_bytes";

/// Owns one partition client: takes what is queued, merges it into records,
/// produces them as one request, answers every waiting caller.
async fn run_partition(
    client: PartitionClient,
    mut queue: mpsc::Receiver<Job>,
    compression: Compression,
) {
    let partition = client.partition();
    while let Some(first) = queue.recv().await {
        let mut bytes = first.batch.encoded_len();
        let mut jobs = vec![first];
        while bytes < MAX_REQUEST_BYTES {
            match queue.try_recv() {
                Ok(job) => {
                    bytes += job.batch.encoded_len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        // Fill of this partition's queue at the moment a request goes out.
        metrics::gauge!(QUEUE_FILL, "partition" => partition.to_string())
            .set(queue.len() as f64 / queue.max_capacity().max(1) as f64);
        let held: Vec<OwnedSemaphorePermit> =
            jobs.iter_mut().filter_map(|job| job.bytes.take()).collect();
        let (records, replies) = merge(jobs);
        let count = records.len();
        let produced = std::time::Instant::now();
        let outcome = client.produce(records, compression).await;
        metrics::histogram!(PRODUCE_SECONDS).record(produced.elapsed().as_secs_f64());
        match outcome {
            Ok(offsets) => {
                metrics::counter!(PRODUCED_BYTES).increment(bytes as u64);
                for (waiting, offset) in replies.into_iter().zip(offsets) {
                    for reply in waiting {
                        let _ = reply.send(Ok(offset));
                    }
                }
            }
            Err(err) => {
                tracing::warn!(partition, records = count, error = %err, "produce failed");
                let err = ProduceError::Broker(err.to_string().into());
                for reply in replies.into_iter().flatten() {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
        let released: usize = held.iter().map(OwnedSemaphorePermit::num_permits).sum();
        drop(held);
        metrics::gauge!(QUEUE_BYTES).decrement(released as f64);
    }
    tracing::debug!(partition, "producer task stopped");
}

type Reply = oneshot::Sender<Result<i64, ProduceError>>;

/// Merges consecutive batches of the same project into records of at most
/// [`MAX_RECORD_BYTES`]; returns the records and, per record, who waits for it.
/// A merged record's receive time is its first batch's.
fn merge(jobs: Vec<Job>) -> (Vec<Record>, Vec<Vec<Reply>>) {
    let mut merged: Vec<(EventBatchRecord, Vec<TraceHeaders>, Vec<Reply>)> = Vec::new();
    for Job {
        batch,
        trace,
        reply,
        ..
    } in jobs
    {
        match merged.last_mut() {
            Some((current, traces, replies))
                if current.project_id == batch.project_id
                    && current.encoded_len() + batch.encoded_len() <= MAX_RECORD_BYTES =>
            {
                current.events.extend(batch.events);
                traces.push(trace);
                replies.push(reply);
            }
            _ => merged.push((batch, vec![trace], vec![reply])),
        }
    }
    merged
        .into_iter()
        .map(|(batch, traces, replies)| (crate::record::encode(&batch, &traces), replies))
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;
    use boost_proto::common::v1::Event;

    fn job(project: &str, events: usize) -> (Job, oneshot::Receiver<Result<i64, ProduceError>>) {
        let (reply, answer) = oneshot::channel();
        let batch = EventBatchRecord {
            project_id: project.into(),
            events: (0..events)
                .map(|i| Event {
                    event_id: i.to_string(),
                    ..Default::default()
                })
                .collect(),
            receive_time: None,
        };
        (
            Job {
                batch,
                bytes: None,
                trace: TraceHeaders::new(),
                reply,
            },
            answer,
        )
    }

    #[test]
    fn test_same_project_batches_share_a_record() {
        let jobs: Vec<Job> = [("a", 1), ("a", 2), ("b", 1), ("a", 1)]
            .into_iter()
            .map(|(p, n)| job(p, n).0)
            .collect();
        let (records, replies) = merge(jobs);
        assert_eq!(records.len(), 3, "a+a, b, a");
        assert_eq!(
            replies.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![2, 1, 1]
        );
        let first = crate::record::decode(&records[0]).expect("decodes");
        assert_eq!(first.events.len(), 3);
    }
}
