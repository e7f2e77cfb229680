//! Client construction and topic set-up.

use std::time::Duration;

use rskafka::{
    BackoffConfig,
    client::{
        Client, ClientBuilder,
        partition::{PartitionClient, UnknownTopicHandling},
    },
};

use crate::KafkaArgs;

/// Why talking to the broker failed.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// No broker could be reached.
    #[error("cannot connect to kafka brokers {brokers:?}")]
    Connect {
        /// The bootstrap list tried.
        brokers: Vec<String>,
        /// The client's error.
        #[source]
        source: rskafka::client::error::Error,
    },
    /// No broker answered within the retry deadline.
    #[error("no kafka broker of {brokers:?} answered within {after:?}")]
    ConnectTimeout {
        /// The bootstrap list tried.
        brokers: Vec<String>,
        /// The deadline.
        after: Duration,
    },
    /// Listing or creating the topic failed.
    #[error("cannot set up topic {topic}")]
    Topic {
        /// Topic name.
        topic: String,
        /// The client's error.
        #[source]
        source: rskafka::client::error::Error,
    },
    /// The topic exists with another partition count than configured.
    #[error("topic {topic} has {actual} partitions but BOOST_KAFKA_PARTITIONS is {expected}")]
    PartitionCount {
        /// Topic name.
        topic: String,
        /// Configured count.
        expected: i32,
        /// Count on the broker.
        actual: usize,
    },
    /// Asking the brokers for cluster metadata failed.
    #[error("cannot read cluster metadata")]
    Metadata {
        /// The client's error.
        #[source]
        source: rskafka::client::error::Error,
    },
    /// Getting a partition client failed.
    #[error("cannot open partition {partition} of {topic}")]
    Partition {
        /// Topic name.
        topic: String,
        /// Partition number.
        partition: i32,
        /// The client's error.
        #[source]
        source: rskafka::client::error::Error,
    },
}

/// Connects to the brokers. Retries stop at the configured deadline instead
/// of rskafka's default of retrying forever.
pub async fn connect(args: &KafkaArgs, client_id: &str) -> Result<Client, KafkaError> {
    let builder = ClientBuilder::new(args.brokers.clone())
        .client_id(client_id.to_string())
        .backoff_config(backoff(args.retry_deadline));
    match tokio::time::timeout(args.retry_deadline, builder.build()).await {
        Ok(result) => result.map_err(|source| KafkaError::Connect {
            brokers: args.brokers.clone(),
            source,
        }),
        Err(_) => Err(KafkaError::ConnectTimeout {
            brokers: args.brokers.clone(),
            after: args.retry_deadline,
        }),
    }
}

fn backoff(deadline: Duration) -> BackoffConfig {
    BackoffConfig {
        init_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(1),
        base: 2.0,
        deadline: Some(deadline),
    }
}

/// Replicas of the events topic Boost creates; a cluster that needs more
/// creates the topic itself beforehand (Boost then only checks it).
const REPLICATION_FACTOR: i16 = 1;
/// How long the broker may take to create the topic (ms).
const CREATE_TOPIC_TIMEOUT_MS: i32 = 5_000;

/// Creates the events topic when missing and checks its partition count.
/// Brokers that auto-create topics would pick their own count, so Boost
/// always creates it explicitly first.
pub async fn ensure_topic(client: &Client, args: &KafkaArgs) -> Result<(), KafkaError> {
    let topic_error = |source| KafkaError::Topic {
        topic: args.topic.clone(),
        source,
    };
    let existing = find_topic(client, &args.topic).await.map_err(topic_error)?;
    let partitions = match existing {
        Some(count) => count,
        None => {
            let controller = client.controller_client().map_err(topic_error)?;
            if let Err(err) = controller
                .create_topic(
                    &args.topic,
                    args.partitions,
                    REPLICATION_FACTOR,
                    CREATE_TOPIC_TIMEOUT_MS,
                )
                .await
            {
                // Someone else may have created it meanwhile; the check below decides.
                tracing::debug!(error = %err, topic = %args.topic, "create topic failed");
            } else {
                tracing::info!(topic = %args.topic, partitions = args.partitions, "created topic");
            }
            find_topic(client, &args.topic)
                .await
                .map_err(topic_error)?
                .unwrap_or_default()
        }
    };
    if partitions != args.partitions as usize {
        return Err(KafkaError::PartitionCount {
            topic: args.topic.clone(),
            expected: args.partitions,
            actual: partitions,
        });
    }
    Ok(())
}

async fn find_topic(
    client: &Client,
    topic: &str,
) -> Result<Option<usize>, rskafka::client::error::Error> {
    let topics = client.list_topics().await?;
    Ok(topics
        .into_iter()
        .find(|t| t.name == topic)
        .map(|t| t.partitions.len()))
}

/// The cluster id the brokers report ('' when they report none): with the
/// topic it names the log that stored offsets and watermarks belong to.
pub async fn cluster_id(client: &Client) -> Result<String, KafkaError> {
    client
        .cluster_id()
        .await
        .map(Option::unwrap_or_default)
        .map_err(|source| KafkaError::Metadata { source })
}

/// Opens a partition client; unknown topics are errors, never auto-created.
pub async fn partition_client(
    client: &Client,
    topic: &str,
    partition: i32,
) -> Result<PartitionClient, KafkaError> {
    client
        .partition_client(topic, partition, UnknownTopicHandling::Error)
        .await
        .map_err(|source| KafkaError::Partition {
            topic: topic.to_string(),
            partition,
            source,
        })
}
