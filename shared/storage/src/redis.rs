//! The one place Redis clients are built. fred's defaults would never
//! reconnect and never time out a command: Boost sets an exponential
//! reconnect policy that retries forever, a short connect timeout and a
//! global command timeout, so a dead Redis turns into fast errors that
//! callers treat as "Redis down" and degrade.

use std::time::Duration;

use boost_server::config::parse_millis;
use fred::{
    clients::{Client, SubscriberClient},
    prelude::{Builder, ClientLike, Config, ReconnectPolicy},
};

pub use fred;
use tokio_util::sync::CancellationToken;
use tonic_health::{ServingStatus, server::HealthReporter};

/// fred's `max_attempts` value meaning "never give up reconnecting".
const RECONNECT_FOREVER: u32 = 0;
/// First reconnect delay (ms).
const RECONNECT_MIN_MS: u32 = 100;
/// Longest reconnect delay (ms): a returning Redis is used within this.
const RECONNECT_MAX_MS: u32 = 2_000;
/// Each failed reconnect multiplies the delay by this.
const RECONNECT_MULTIPLIER: u32 = 2;

/// Redis settings, flattened into services that use Redis.
#[derive(Debug, Clone, clap::Args)]
pub struct RedisArgs {
    /// Redis URL.
    #[arg(
        id = "redis_url",
        long = "redis-url",
        env = "BOOST_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    pub url: String,
    /// Deadline of any one command (ms); past it the command counts as "Redis down".
    #[arg(id = "redis_command_timeout", long = "redis-command-timeout-ms", env = "BOOST_REDIS_COMMAND_TIMEOUT_MS", default_value = "200", value_parser = parse_millis)]
    pub command_timeout: Duration,
    /// Deadline of one connection attempt (ms); reconnects continue forever with backoff.
    #[arg(id = "redis_connect_timeout", long = "redis-connect-timeout-ms", env = "BOOST_REDIS_CONNECT_TIMEOUT_MS", default_value = "1000", value_parser = parse_millis)]
    pub connect_timeout: Duration,
}

impl RedisArgs {
    /// Settings for `url` with every other value at its default.
    pub fn with_url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..boost_server::config::defaults()
        }
    }

    /// The database number the URL selects (0 when it names none).
    pub fn database(&self) -> u8 {
        Config::from_url(&self.url)
            .ok()
            .and_then(|c| c.database)
            .unwrap_or(0)
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), String> {
        Config::from_url(&self.url).map_err(|e| format!("invalid BOOST_REDIS_URL: {e}"))?;
        if self.command_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(
                "BOOST_REDIS_COMMAND_TIMEOUT_MS and BOOST_REDIS_CONNECT_TIMEOUT_MS must be above 0"
                    .into(),
            );
        }
        Ok(())
    }

    fn builder(&self) -> Result<Builder, fred::error::Error> {
        let mut config = Config::from_url(&self.url)?;
        // Commands issued while disconnected wait for the reconnect (bounded by
        // the command timeout) instead of failing before the first connect.
        config.fail_fast = false;
        let mut builder = Builder::from_config(config);
        let command_timeout = self.command_timeout;
        let connect_timeout = self.connect_timeout;
        builder
            .with_performance_config(|p| p.default_command_timeout = command_timeout)
            .with_connection_config(|c| {
                c.connection_timeout = connect_timeout;
                c.internal_command_timeout = connect_timeout;
                c.max_command_attempts = 1;
            })
            .set_policy(ReconnectPolicy::new_exponential(
                RECONNECT_FOREVER,
                RECONNECT_MIN_MS,
                RECONNECT_MAX_MS,
                RECONNECT_MULTIPLIER,
            ));
        Ok(builder)
    }
}

/// A command client that connects (and reconnects) in the background; start-up
/// never waits for Redis.
pub fn client(args: &RedisArgs) -> Result<Client, fred::error::Error> {
    let client = args.builder()?.build()?;
    // connect() spawns the connection task; dropping its handle detaches it.
    drop(client.connect());
    Ok(client)
}

/// A pub/sub client that re-subscribes after every reconnect.
pub fn subscriber(args: &RedisArgs) -> Result<SubscriberClient, fred::error::Error> {
    let client = args.builder()?.build_subscriber_client()?;
    // Both spawn tasks; dropping their handles detaches them.
    drop(client.connect());
    drop(client.manage_subscriptions());
    Ok(client)
}

/// Redis commands that failed, by `operation`. Every user of Redis has a
/// fallback (the database, local counting, the 1 s L1 bound), so a failure
/// never fails a call: this counter is how an operator sees them.
pub const ERRORS: &str = "boost_redis_errors_total";

/// Counts one failed Redis command of `operation` (e.g. `dedup_check`).
pub fn count_error(operation: &'static str) {
    metrics::counter!(ERRORS, "operation" => operation).increment(1);
}

/// Health name of the Redis dependency: NOT_SERVING while a service runs
/// degraded without it.
pub const HEALTH_NAME: &str = "redis";

/// Reports whether `client` is connected as the `redis` health status, every
/// 500 ms until `cancel`, logging each change.
pub async fn report_health(client: Client, health: HealthReporter, cancel: CancellationToken) {
    let mut was_up = None;
    loop {
        let up = client.is_connected();
        if was_up != Some(up) {
            let status = if up {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            health.set_service_status(HEALTH_NAME, status).await;
            if up {
                tracing::info!("redis connected");
            } else {
                tracing::warn!("redis unavailable: running degraded");
            }
            was_up = Some(up);
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// The processor → ingest contract for stored watermarks: one Redis channel
/// per log carrying `partition=next_offset` pairs separated by spaces, and
/// one key per partition holding its latest `next_offset` (for listeners
/// that missed messages). Everything before `next_offset` of that partition
/// is committed in PostgreSQL.
///
/// Names are scoped by the broker cluster's id and the topic (watermarks
/// describe one log), and the channel also by the Redis database number:
/// keys live in one database, but pub/sub ignores database numbers, so two
/// deployments sharing a Redis server would otherwise hear each other.
pub mod watermarks {
    use super::RedisArgs;

    /// The channel and key names of one log's watermarks.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Names {
        /// The pub/sub channel.
        channel: String,
        /// Prefix of the per-partition keys.
        key_prefix: String,
    }

    impl Names {
        /// Names for the log `cluster_id`/`topic` on the Redis of `redis`.
        pub fn new(redis: &RedisArgs, cluster_id: &str, topic: &str) -> Self {
            let log = format!("{cluster_id}:{topic}");
            Self {
                channel: format!("boost:stored:db{}:{log}", redis.database()),
                key_prefix: format!("boost:stored:{log}"),
            }
        }

        /// The channel.
        pub fn channel(&self) -> &str {
            &self.channel
        }

        /// The key holding `partition`'s latest watermark.
        pub fn key(&self, partition: i32) -> String {
            format!("{}:{partition}", self.key_prefix)
        }
    }

    /// One message for `moved` (partition, next offset) pairs.
    pub fn encode(moved: &[(i32, i64)]) -> String {
        moved
            .iter()
            .map(|(partition, offset)| format!("{partition}={offset}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The pairs of a message; malformed pairs are skipped.
    pub fn decode(message: &str) -> Vec<(i32, i64)> {
        message
            .split_whitespace()
            .filter_map(|pair| {
                let (partition, offset) = pair.split_once('=')?;
                Some((partition.parse().ok()?, offset.parse().ok()?))
            })
            .collect()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn test_names_differ_by_database_cluster_and_topic() {
            let db0 = RedisArgs::with_url("redis://127.0.0.1:6379/0");
            let db1 = RedisArgs::with_url("redis://127.0.0.1:6379/1");
            let a = Names::new(&db0, "cluster-a", "boost.events");
            assert_eq!(a.channel(), "boost:stored:db0:cluster-a:boost.events");
            assert_eq!(a.key(3), "boost:stored:cluster-a:boost.events:3");
            assert_ne!(
                a.channel(),
                Names::new(&db1, "cluster-a", "boost.events").channel()
            );
            assert_ne!(a, Names::new(&db0, "cluster-b", "boost.events"));
            assert_ne!(a, Names::new(&db0, "cluster-a", "other"));
        }

        #[test]
        fn test_round_trip_and_garbage_skipped() {
            let moved = [(0, 15), (7, 1_000_000)];
            assert_eq!(super::decode(&super::encode(&moved)), moved);
            assert_eq!(super::decode("3=4 x=1 5= =6 9=10"), vec![(3, 4), (9, 10)]);
        }
    }
}
