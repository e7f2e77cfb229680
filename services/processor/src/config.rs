//! Processor configuration.

use std::time::Duration;

use boost_kafka::KafkaArgs;
use boost_server::config::{AuthClientArgs, GrpcArgs, TelemetryArgs, parse_millis};
use boost_server::service::ServiceConfig;
use boost_storage::{PostgresArgs, redis::RedisArgs};

/// Everything the processor reads at start-up.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "processor", about = "Boost processor")]
pub struct Config {
    /// Address of the dead-letter API and health / reflection.
    #[arg(
        long,
        env = "BOOST_PROCESSOR_LISTEN",
        default_value = "127.0.0.1:50054"
    )]
    pub listen: String,
    /// Partitions this instance consumes, comma separated (static
    /// assignment: several instances must take disjoint sets). Empty: the
    /// instances running share every partition by leases.
    #[arg(
        long = "assigned-partitions",
        env = "BOOST_PROCESSOR_PARTITIONS",
        value_delimiter = ','
    )]
    pub assigned_partitions: Vec<i32>,
    /// How long a partition lease (and an instance's heartbeat) lasts
    /// unrenewed (ms); renewed every third of it. A dead instance's
    /// partitions are taken over within twice this.
    #[arg(long = "lease-ms", env = "BOOST_PROCESSOR_LEASE_MS", default_value = "6000", value_parser = parse_millis)]
    pub lease_time: Duration,
    /// This instance's name in the lease table and GetStatus; default:
    /// host name and process id. Must differ between live instances.
    #[arg(long = "instance", env = "BOOST_PROCESSOR_INSTANCE", default_value_t = crate::leases::default_instance())]
    pub instance: String,
    /// How long one fetch waits for new records (ms); also the consumer's idle latency.
    #[arg(long = "fetch-max-wait-ms", env = "BOOST_PROCESSOR_FETCH_MAX_WAIT_MS", default_value = "25", value_parser = parse_millis)]
    pub fetch_max_wait: Duration,
    /// Most record bytes one fetch returns.
    #[arg(long = "fetch-max-bytes", env = "BOOST_PROCESSOR_FETCH_MAX_BYTES", default_value_t = 1024 * 1024)]
    pub fetch_max_bytes: i32,
    /// A partition with records waiting that stores nothing for this long
    /// (ms) turns the `consuming` health status NOT_SERVING.
    #[arg(long = "stall-after-ms", env = "BOOST_PROCESSOR_STALL_AFTER_MS", default_value = "10000", value_parser = parse_millis)]
    pub stall_after: Duration,
    /// How often the retention job runs (ms); it also runs at start-up.
    #[arg(long = "retention-interval-ms", env = "BOOST_PROCESSOR_RETENTION_INTERVAL_MS", default_value = "86400000", value_parser = parse_millis)]
    pub retention_interval: Duration,
    /// The broker.
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Redis: stored watermarks are published there for ingest's COMMITTED acks.
    #[command(flatten)]
    pub redis: RedisArgs,
    /// Where auth is (the dead-letter API).
    #[command(flatten)]
    pub auth: AuthClientArgs,
    /// Database.
    #[command(flatten)]
    pub postgres: PostgresArgs,
    /// gRPC server limits.
    #[command(flatten)]
    pub grpc: GrpcArgs,
    /// Logs and traces.
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

impl ServiceConfig for Config {
    const NAME: &'static str = "processor";
    const LISTEN_ENV: &'static str = "BOOST_PROCESSOR_LISTEN";

    fn listen(&self) -> &str {
        &self.listen
    }

    fn telemetry(&self) -> &TelemetryArgs {
        &self.telemetry
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(p) = self
            .assigned_partitions
            .iter()
            .find(|p| !(0..self.kafka.partitions).contains(*p))
        {
            return Err(format!(
                "BOOST_PROCESSOR_PARTITIONS names partition {p}, but the topic has {} (0..{})",
                self.kafka.partitions,
                self.kafka.partitions - 1
            ));
        }
        if self.fetch_max_wait.is_zero() {
            return Err("BOOST_PROCESSOR_FETCH_MAX_WAIT_MS must be at least 1".into());
        }
        if self.fetch_max_bytes < 1024 {
            return Err("BOOST_PROCESSOR_FETCH_MAX_BYTES must be at least 1024".into());
        }
        if self.retention_interval < Duration::from_secs(60) {
            return Err("BOOST_PROCESSOR_RETENTION_INTERVAL_MS must be at least 60000".into());
        }
        if self.lease_time < Duration::from_millis(300) {
            return Err("BOOST_PROCESSOR_LEASE_MS must be at least 300".into());
        }
        if self.instance.is_empty() || self.instance.len() > 200 {
            return Err("BOOST_PROCESSOR_INSTANCE must be 1 to 200 characters".into());
        }
        if self.stall_after.is_zero() {
            return Err("BOOST_PROCESSOR_STALL_AFTER_MS must be at least 1".into());
        }
        self.grpc.validate()?;
        self.redis.validate()?;
        self.postgres.validate()?;
        self.kafka.validate()
    }
}

impl Config {
    /// The statically assigned partitions, sorted; `None` when instances
    /// share the topic by leases.
    pub fn static_partitions(&self) -> Option<Vec<i32>> {
        if self.assigned_partitions.is_empty() {
            return None;
        }
        let mut partitions = self.assigned_partitions.clone();
        partitions.sort_unstable();
        partitions.dedup();
        Some(partitions)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn test_flags_consistent_and_defaults_valid() {
        boost_server::service::assert_defaults_valid::<super::Config>();
    }
}
