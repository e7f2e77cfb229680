//! Query service configuration.

use boost_server::config::{AuthClientArgs, GrpcArgs, TelemetryArgs};
use boost_storage::PostgresArgs;

/// Everything the query service reads at start-up.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "query", about = "Boost query service")]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "BOOST_QUERY_LISTEN", default_value = "127.0.0.1:50053")]
    pub listen: String,
    /// Where auth is.
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

impl Config {
    /// Checks the whole configuration before anything binds or connects.
    pub fn validate(&self) -> Result<(), String> {
        self.listen
            .parse::<std::net::SocketAddr>()
            .map_err(|e| format!("invalid BOOST_QUERY_LISTEN {:?}: {e}", self.listen))?;
        self.grpc.validate()?;
        self.postgres.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[test]
    fn test_flags_are_consistent() {
        Config::command().debug_assert();
    }

    #[test]
    fn test_defaults_are_valid() {
        let config = Config::try_parse_from(["query"]).expect("defaults parse");
        config.validate().expect("defaults are valid");
    }
}
