//! Query service configuration.

use std::time::Duration;

use boost_server::config::{AuthClientArgs, GrpcArgs, TelemetryArgs, parse_millis};
use boost_server::service::ServiceConfig;
use boost_storage::PostgresArgs;

/// Everything the query service reads at start-up.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "query", about = "Boost query service")]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "BOOST_QUERY_LISTEN", default_value = "127.0.0.1:50053")]
    pub listen: String,
    /// How often TailEvents looks for newly stored events (ms).
    #[arg(long = "tail-poll-ms", env = "BOOST_QUERY_TAIL_POLL_MS", default_value = "500", value_parser = parse_millis)]
    pub tail_poll: Duration,
    /// Longest a TailEvents stream stays open (ms); the client reopens it.
    #[arg(long = "tail-max-ms", env = "BOOST_QUERY_TAIL_MAX_MS", default_value = "600000", value_parser = parse_millis)]
    pub tail_max: Duration,
    /// Where auth is.
    #[command(flatten)]
    pub auth: AuthClientArgs,
    /// Database.
    #[command(flatten)]
    pub postgres: PostgresArgs,
    /// A read-only replica to read from instead of `BOOST_DATABASE_URL`
    /// (empty: the primary). Rows reach a replica after its replication
    /// lag, so a COMMITTED ack no longer means "visible to queries" at once.
    #[arg(
        long = "read-database-url",
        env = "BOOST_QUERY_READ_DATABASE_URL",
        default_value = ""
    )]
    pub read_database_url: String,
    /// gRPC server limits.
    #[command(flatten)]
    pub grpc: GrpcArgs,
    /// Logs and traces.
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

impl ServiceConfig for Config {
    const NAME: &'static str = "query";
    const LISTEN_ENV: &'static str = "BOOST_QUERY_LISTEN";

    fn listen(&self) -> &str {
        &self.listen
    }

    fn telemetry(&self) -> &TelemetryArgs {
        &self.telemetry
    }

    fn validate(&self) -> Result<(), String> {
        if self.tail_poll < Duration::from_millis(50) || self.tail_poll > Duration::from_secs(60) {
            return Err("BOOST_QUERY_TAIL_POLL_MS must be between 50 and 60000".into());
        }
        if self.tail_max < self.tail_poll {
            return Err("BOOST_QUERY_TAIL_MAX_MS must be at least BOOST_QUERY_TAIL_POLL_MS".into());
        }
        self.grpc.validate()?;
        if !self.read_database_url.is_empty() {
            self.read_postgres()
                .validate()
                .map_err(|e| e.replace("BOOST_DATABASE_URL", "BOOST_QUERY_READ_DATABASE_URL"))?;
        }
        self.postgres.validate()
    }
}

impl Config {
    /// The database settings queries read with: the primary's, or the
    /// replica's URL with the same pool settings (migrations are the
    /// primary's to apply; the replica is waited on until it has them).
    pub fn read_postgres(&self) -> PostgresArgs {
        if self.read_database_url.is_empty() {
            return self.postgres.clone();
        }
        PostgresArgs {
            url: self.read_database_url.clone(),
            migrate: false,
            ..self.postgres.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn test_flags_consistent_and_defaults_valid() {
        boost_server::service::assert_defaults_valid::<super::Config>();
    }
}
