//! Broker settings, flattened into ingest and processor.

use std::time::Duration;

use boost_server::config::parse_millis;
use rskafka::client::partition::Compression;

/// Record batch compression the producer applies. Snappy and zstd are left
/// out: the default broker (tansu 0.6, sqlite) acknowledges snappy batches
/// but cannot serve them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Codec {
    /// No compression.
    None,
    /// gzip (deflate).
    Gzip,
    /// LZ4 frames.
    Lz4,
}

impl From<Codec> for Compression {
    fn from(codec: Codec) -> Self {
        match codec {
            Codec::None => Compression::NoCompression,
            Codec::Gzip => Compression::Gzip,
            Codec::Lz4 => Compression::Lz4,
        }
    }
}

/// Kafka connection and topic settings. Any Kafka-compatible broker works;
/// only the bootstrap address differs.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    /// Bootstrap brokers, comma separated.
    #[arg(
        long = "kafka-brokers",
        env = "BOOST_KAFKA_BROKERS",
        default_value = "127.0.0.1:9092",
        value_delimiter = ','
    )]
    pub brokers: Vec<String>,
    /// Topic that carries events from ingest to processor.
    #[arg(
        long = "kafka-topic",
        env = "BOOST_KAFKA_TOPIC",
        default_value = "boost.events"
    )]
    pub topic: String,
    /// Partitions of the events topic; created with this many, and checked at start-up.
    #[arg(
        long = "kafka-partitions",
        env = "BOOST_KAFKA_PARTITIONS",
        default_value_t = 4
    )]
    pub partitions: i32,
    /// How long rskafka keeps retrying one request before giving up (ms).
    #[arg(long = "kafka-retry-deadline-ms", env = "BOOST_KAFKA_RETRY_DEADLINE_MS", default_value = "5000", value_parser = parse_millis)]
    pub retry_deadline: Duration,
    /// Compression of produced record batches: none, gzip or lz4.
    #[arg(
        long = "kafka-compression",
        env = "BOOST_KAFKA_COMPRESSION",
        value_enum,
        default_value = "none"
    )]
    pub compression: Codec,
}

impl KafkaArgs {
    /// Settings for `brokers` with every other value at its default.
    pub fn with_brokers(brokers: impl Into<String>) -> Self {
        Self {
            brokers: vec![brokers.into()],
            ..boost_server::config::defaults()
        }
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.brokers.iter().all(|b| b.trim().is_empty()) {
            return Err("BOOST_KAFKA_BROKERS must name at least one broker".into());
        }
        if !(1..=1024).contains(&self.partitions) {
            return Err("BOOST_KAFKA_PARTITIONS must be between 1 and 1024".into());
        }
        if self.topic.is_empty() {
            return Err("BOOST_KAFKA_TOPIC must not be empty".into());
        }
        Ok(())
    }
}
