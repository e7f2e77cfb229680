//! Kafka access for Boost, on rskafka (which has no consumer groups and no
//! request timeouts of its own; see the design brief's broker notes).
//!
//! - [`config`]: [`KafkaArgs`], the one place broker settings live
//! - [`client`]: client construction with a retry deadline, topic creation and checks
//! - [`record`]: the `EventBatchRecord` codec shared by ingest and processor
//! - [`producer`]: [`Producer`], one task per partition that owns its
//!   partition client, so a caller's deadline never cancels a produce mid-write

pub mod client;
pub mod config;
pub mod producer;
pub mod record;

pub use config::KafkaArgs;
pub use producer::{ProduceError, Producer, QueueLimits};
pub use rskafka;
