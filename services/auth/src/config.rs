//! Auth service configuration.

use boost_server::config::{GrpcArgs, TelemetryArgs, parse_millis};
use boost_server::service::ServiceConfig;
use std::time::Duration;

use boost_storage::{PostgresArgs, redis::RedisArgs};

use crate::jwt::JwtArgs;

/// Everything the auth service reads at start-up.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "auth", about = "Boost auth service")]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "BOOST_AUTH_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: String,
    /// Secret that admin RPCs (create organisation / project / key) require in
    /// `x-admin-token`. Empty turns the admin RPCs off.
    #[arg(
        long,
        env = "BOOST_ADMIN_TOKEN",
        default_value = "",
        hide_env_values = true
    )]
    pub admin_token: String,
    /// L1 lifetime of a validated key while invalidations flow (ms).
    #[arg(long = "key-cache-ttl-ms", env = "BOOST_AUTH_KEY_CACHE_TTL_MS", default_value = "10000", value_parser = parse_millis)]
    pub key_cache_ttl: Duration,
    /// L1 lifetime of an unknown or revoked key (ms).
    #[arg(long = "key-cache-negative-ttl-ms", env = "BOOST_AUTH_KEY_CACHE_NEGATIVE_TTL_MS", default_value = "1000", value_parser = parse_millis)]
    pub key_cache_negative_ttl: Duration,
    /// L2 (Redis) lifetime of a validated key (ms).
    #[arg(long = "key-cache-redis-ttl-ms", env = "BOOST_AUTH_KEY_CACHE_REDIS_TTL_MS", default_value = "300000", value_parser = parse_millis)]
    pub key_cache_redis_ttl: Duration,
    /// Minimum time between two `last_used_at` writes of one key (ms).
    #[arg(long = "last-used-interval-ms", env = "BOOST_AUTH_LAST_USED_INTERVAL_MS", default_value = "60000", value_parser = parse_millis)]
    pub last_used_interval: Duration,
    /// JWT bearer tokens.
    #[command(flatten)]
    pub jwt: JwtArgs,
    /// Redis (key cache and invalidations).
    #[command(flatten)]
    pub redis: RedisArgs,
    /// gRPC server limits.
    #[command(flatten)]
    pub grpc: GrpcArgs,
    /// Database.
    #[command(flatten)]
    pub postgres: PostgresArgs,
    /// Logs and traces.
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

impl ServiceConfig for Config {
    const NAME: &'static str = "auth";
    const LISTEN_ENV: &'static str = "BOOST_AUTH_LISTEN";

    fn listen(&self) -> &str {
        &self.listen
    }

    fn telemetry(&self) -> &TelemetryArgs {
        &self.telemetry
    }

    fn validate(&self) -> Result<(), String> {
        if !self.admin_token.is_empty() && self.admin_token.len() < 16 {
            return Err("BOOST_ADMIN_TOKEN must be empty or at least 16 characters".into());
        }
        if self.key_cache_redis_ttl < std::time::Duration::from_secs(1) {
            return Err("BOOST_AUTH_KEY_CACHE_REDIS_TTL_MS must be at least 1000".into());
        }
        crate::jwt::JwtVerifier::from_args(&self.jwt)?;
        self.redis.validate()?;
        self.grpc.validate()?;
        self.postgres.validate()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn test_flags_consistent_and_defaults_valid() {
        boost_server::service::assert_defaults_valid::<super::Config>();
    }
}
