//! Ingest service configuration.

use std::time::Duration;

use boost_kafka::{KafkaArgs, producer::MAX_RECORD_BYTES};
use boost_server::config::{AuthClientArgs, GrpcArgs, TelemetryArgs, parse_millis};
use boost_server::service::ServiceConfig;
use boost_storage::redis::RedisArgs;

use crate::validate::Limits;

/// Everything the ingest service reads at start-up.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "ingest", about = "Boost ingest service")]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "BOOST_INGEST_LISTEN", default_value = "127.0.0.1:50052")]
    pub listen: String,
    /// Longest wait for the broker's acknowledgement (ms); past it the caller
    /// gets UNAVAILABLE with RetryInfo.
    #[arg(long = "ack-timeout-ms", env = "BOOST_INGEST_ACK_TIMEOUT_MS", default_value = "5000", value_parser = parse_millis)]
    pub ack_timeout: Duration,
    /// Longest wait (ms), after the broker's acknowledgement, for the
    /// processor to store the events of an ACK_LEVEL_COMMITTED call; past
    /// it they are answered ACCEPTED with `stored` false.
    #[arg(long = "commit-timeout-ms", env = "BOOST_INGEST_COMMIT_TIMEOUT_MS", default_value = "3000", value_parser = parse_millis)]
    pub commit_timeout: Duration,
    /// How long accepted event ids are remembered for the fast DUPLICATE
    /// answer (ms); the database dedups for good.
    #[arg(long = "dedup-window-ms", env = "BOOST_INGEST_DEDUP_WINDOW_MS", default_value = "86400000", value_parser = parse_millis)]
    pub dedup_window: Duration,
    /// Batches one partition's producer may queue; beyond that callers get
    /// RESOURCE_EXHAUSTED (buffer full) with RetryInfo at once.
    #[arg(
        long = "producer-queue",
        env = "BOOST_INGEST_PRODUCER_QUEUE",
        default_value_t = 4096
    )]
    pub producer_queue: usize,
    /// Encoded event bytes the producer may hold, queued or in flight, all
    /// partitions together; beyond that callers get RESOURCE_EXHAUSTED
    /// (buffer full) with RetryInfo at once. Bounds ingest's memory.
    #[arg(
        long = "producer-queue-bytes",
        env = "BOOST_INGEST_PRODUCER_QUEUE_BYTES",
        default_value_t = 16 * 1024 * 1024
    )]
    pub producer_queue_bytes: usize,
    /// Events one project may send per rate-limit window; 0 turns limiting off.
    #[arg(
        long = "rate-limit-events",
        env = "BOOST_INGEST_RATE_LIMIT_EVENTS",
        default_value_t = 1_000_000
    )]
    pub rate_limit_events: u64,
    /// Events one API key may send per window; 0 turns this limit off.
    #[arg(
        long = "rate-limit-key-events",
        env = "BOOST_INGEST_RATE_LIMIT_KEY_EVENTS",
        default_value_t = 0
    )]
    pub rate_limit_key_events: u64,
    /// Events about one end user (`user_id`) per window; 0 turns this limit
    /// off. Events over it are REJECTED (retryable), the rest go on.
    #[arg(
        long = "rate-limit-user-events",
        env = "BOOST_INGEST_RATE_LIMIT_USER_EVENTS",
        default_value_t = 0
    )]
    pub rate_limit_user_events: u64,
    /// Events from one client address per window; 0 turns this limit off.
    #[arg(
        long = "rate-limit-address-events",
        env = "BOOST_INGEST_RATE_LIMIT_ADDRESS_EVENTS",
        default_value_t = 0
    )]
    pub rate_limit_address_events: u64,
    /// Take the client address from the first `x-forwarded-for` entry instead
    /// of the TCP peer. Only for ingest reachable solely through a proxy that
    /// sets the header (the edge, Envoy); otherwise callers could pick it.
    #[arg(
        long = "trust-forwarded-for",
        env = "BOOST_INGEST_TRUST_FORWARDED_FOR",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub trust_forwarded_for: bool,
    /// Length of the sliding rate-limit window (ms).
    #[arg(long = "rate-limit-window-ms", env = "BOOST_INGEST_RATE_LIMIT_WINDOW_MS", default_value = "60000", value_parser = parse_millis)]
    pub rate_limit_window: Duration,
    /// Event validation limits.
    #[command(flatten)]
    pub limits: Limits,
    /// Redis (dedup fast path).
    #[command(flatten)]
    pub redis: RedisArgs,
    /// Where auth is.
    #[command(flatten)]
    pub auth: AuthClientArgs,
    /// The broker.
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// gRPC server limits.
    #[command(flatten)]
    pub grpc: GrpcArgs,
    /// Logs and traces.
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

impl ServiceConfig for Config {
    const NAME: &'static str = "ingest";
    const LISTEN_ENV: &'static str = "BOOST_INGEST_LISTEN";

    fn listen(&self) -> &str {
        &self.listen
    }

    fn telemetry(&self) -> &TelemetryArgs {
        &self.telemetry
    }

    fn validate(&self) -> Result<(), String> {
        if self.ack_timeout.is_zero() || self.ack_timeout >= self.grpc.request_timeout {
            return Err(
                "BOOST_INGEST_ACK_TIMEOUT_MS must be above 0 and below BOOST_GRPC_TIMEOUT_MS"
                    .into(),
            );
        }
        if self.commit_timeout.is_zero()
            || self.ack_timeout + self.commit_timeout >= self.grpc.request_timeout
        {
            return Err(
                "BOOST_INGEST_COMMIT_TIMEOUT_MS must be above 0, and with BOOST_INGEST_ACK_TIMEOUT_MS below BOOST_GRPC_TIMEOUT_MS"
                    .into(),
            );
        }
        if !(1..=1_000_000).contains(&self.producer_queue) {
            return Err("BOOST_INGEST_PRODUCER_QUEUE must be between 1 and 1000000".into());
        }
        // At least one largest record, so any single batch can go through.
        if !(MAX_RECORD_BYTES..=1 << 40).contains(&self.producer_queue_bytes) {
            return Err(format!(
                "BOOST_INGEST_PRODUCER_QUEUE_BYTES must be between {MAX_RECORD_BYTES} and 2^40"
            ));
        }
        if self.rate_limit_window < Duration::from_secs(1) {
            return Err("BOOST_INGEST_RATE_LIMIT_WINDOW_MS must be at least 1000".into());
        }
        if self.dedup_window < Duration::from_secs(1) {
            return Err("BOOST_INGEST_DEDUP_WINDOW_MS must be at least 1000".into());
        }
        self.limits.validate()?;
        self.redis.validate()?;
        self.grpc.validate()?;
        self.kafka.validate()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn test_flags_consistent_and_defaults_valid() {
        boost_server::service::assert_defaults_valid::<super::Config>();
    }
}
